"""The library's one door to retrieval (server/retrieval): embedding chunks and queries, and
ranking the candidate chunks a search loaded. Everything the library knows about embedders,
indexes and `$vectorSearch` is here; the service only hands in what the caller may read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure

from server.config import Settings
from server.library.cache import IndexCache, cache_key
from server.retrieval import Candidate, Embedder, HybridIndex, Passage, build_embedder
from server.retrieval.atlas import CANDIDATE_FACTOR, vector_search_error, vector_search_stage

__all__ = ["INDEXES", "Passage", "embed", "install", "rank"]

# Built indexes by caller and library version (server/library/cache.py): per process.
INDEXES = IndexCache()


class _Installed:
    """Set once by the lifespan (`install`): the search entry point takes no app state, so
    the chat's grounding can call it with just the user and the query."""

    embedder: Embedder | None = None
    max_candidates: int = 5000
    vector_search: str = "local"
    vector_index: str = "document_chunks_embedding"


def install(*, settings: Settings, embedder: Embedder | None = None) -> None:
    _Installed.embedder = embedder or build_embedder(settings)
    _Installed.max_candidates = settings.document_search_candidates
    _Installed.vector_search = settings.vector_search
    _Installed.vector_index = settings.vector_search_index
    INDEXES.clear()  # built with the previous embedder's vectors


def _embedder() -> Embedder:
    if _Installed.embedder is None:  # a script or test outside the app: the default embedder
        _Installed.embedder = build_embedder(Settings())
    return _Installed.embedder


async def embed(texts: list[str]) -> list[list[float]]:
    """Unit-length vectors, one per text, from the app's embedder (`EMBEDDINGS`)."""
    return await _embedder().embed(texts)


def _candidate(raw: Mapping[str, Any], titles: Mapping[Any, str], dim: int) -> Candidate:
    embedding = raw.get("embedding") or []
    if len(embedding) != dim:
        # Embedded by another model (EMBEDDINGS changed since): its vector means nothing next
        # to the query's, so it competes on words alone until the document is processed anew.
        embedding = [0.0] * dim
    # float32 in one array, not a list of Python floats: an index kept in the cache holds
    # its candidates, and 256 Python floats take ~8 KB where the array takes ~1 KB.
    vector = cast("Sequence[float]", np.asarray(embedding, dtype=np.float32))
    return Candidate(
        chunk_id=str(raw["_id"]),
        document_id=str(raw["document_id"]),
        title=titles[raw["document_id"]],
        page=int(raw["page"]),
        text=raw["text"],
        embedding=vector,
    )


async def rank(
    *,
    chunks: AsyncCollection[dict[str, Any]],
    readable: dict[str, Any],
    titles: Mapping[Any, str],
    query: str,
    limit: int,
    topics: Sequence[str] | None = None,
    cache_scope: dict[str, Any] | None = None,
    version: str | None = None,
) -> list[Passage]:
    """The best `limit` passages among the chunks matching `readable`, best first.

    `VECTOR_SEARCH=local`: the readable chunks (at most DOCUMENT_SEARCH_CANDIDATES) are
    ranked in this process by vector and BM25, fused by reciprocal rank. `atlas`: MongoDB's
    `$vectorSearch` picks the nearest chunks inside the readable filter, and the same fusion
    re-ranks them with BM25 (a 503 where the database has no vector search).

    `topics`: only chunks tagged with one of these topic ids. Those few chunks are always
    ranked in this process: the Atlas index filters on scalar fields, not on the ids inside
    the chunks' `topics` array.

    `cache_scope` (the caller's readable filter) and `version` (of the ready documents in
    `titles`): with both, a local ranking reuses the index built for the same caller, filter
    and version in this process instead of loading and indexing the chunks again."""
    embedder = _embedder()
    vector = (await embedder.embed([query]))[0]
    key = None
    if cache_scope is not None and version is not None and _Installed.vector_search != "atlas":
        key = cache_key(
            readable=cache_scope, topics=topics, embedder=f"{embedder.name}:{embedder.dim}"
        )
        cached = INDEXES.get(key, version)
        if cached is not None:
            return _passages(cached, query, vector, limit)
    if topics is not None:
        readable = {"$and": [readable, {"topics.id": {"$in": list(topics)}}]}
    if _Installed.vector_search == "atlas" and topics is None:
        # The embeddings come back too: the fusion below compares them with the query.
        pipeline = [
            vector_search_stage(
                index=_Installed.vector_index,
                query_vector=vector,
                limit=max(limit * CANDIDATE_FACTOR // 4, 50),
                filter=readable,
            )
        ]
        try:
            rows = await (await chunks.aggregate(pipeline)).to_list()
        except OperationFailure as exc:
            raise vector_search_error(exc) from exc
        # The filter already holds the caller's scope; pass the ranking only chunks of
        # documents that are ready (and so in `titles`).
        candidates = [
            _candidate(r, titles, len(vector)) for r in rows if r["document_id"] in titles
        ]
    else:
        cursor = chunks.find(readable).limit(_Installed.max_candidates)
        candidates = [_candidate(raw, titles, len(vector)) async for raw in cursor]
    if not candidates:
        return []
    index = HybridIndex(candidates)
    passages = _passages(index, query, vector, limit)
    if key is not None and version is not None:
        INDEXES.put(key, version, index)  # ranked once: built, nothing left to rebuild
    return passages


def _passages(index: HybridIndex, query: str, vector: Sequence[float], limit: int) -> list[Passage]:
    return [
        Passage(
            document_id=r.candidate.document_id,
            title=r.candidate.title,
            page=r.candidate.page,
            text=r.candidate.text,
            score=r.score,
        )
        for r in index.rank(query, vector, limit)
    ]
