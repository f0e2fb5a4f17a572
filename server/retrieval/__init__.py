"""Retrieval: embeddings, hybrid passage ranking and topic tagging by meaning.

Pure computation with no database access: the documents feature (server/library) hands in
candidate chunks it already filtered to what the caller may read, and runs the Atlas stage
built by `atlas.vector_search_stage` on its own collection. See docs/LIBRARY.md.
"""

from server.retrieval.embedders import (
    Embedder,
    EmbeddingUnavailable,
    GeminiEmbedder,
    LocalEmbedder,
    OpenAIEmbedder,
    build_embedder,
    local_embedder,
)
from server.retrieval.index import Candidate, HybridIndex, Passage, Ranked

__all__ = [
    "Candidate",
    "Embedder",
    "EmbeddingUnavailable",
    "GeminiEmbedder",
    "HybridIndex",
    "LocalEmbedder",
    "OpenAIEmbedder",
    "Passage",
    "Ranked",
    "build_embedder",
    "local_embedder",
]
