"""Text embeddings: a local model shipped inside a wheel (default) or a vendor's API.

Every embedder returns unit-length vectors, so cosine similarity is a dot product everywhere
(the local index, Atlas `$vectorSearch` with `dotProduct` or `cosine`, the topic tagger).

The local model is WordLlama (MIT): static token embeddings distilled from an LLM's embedding
table, average-pooled and projected to 256 dimensions. Its weights (16 MB) and tokenizer are
files inside the `wordllama` wheel, and `WordLlama.load(cache_dir=<package dir>,
disable_download=True)` reads them from there, so nothing is downloaded at run time and no
cache directory is written (checked with HF_HUB_OFFLINE=1 and an empty HOME in
tests/retrieval/test_embedders.py). Comparison with all-MiniLM-L6-v2: docs/BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from server.errors import AppError

if TYPE_CHECKING:
    from server.config import Settings

LOCAL_DIM: Final = 256
# Texts per call: bounds one call's memory (local) and stays under the vendors' batch limits
# (OpenAI 2048 inputs, Gemini 100 requests per batchEmbedContents).
LOCAL_BATCH: Final = 256
VENDOR_BATCH: Final = 96

Matrix = npt.NDArray[np.float32]


class EmbeddingUnavailable(AppError):
    """The configured embedding vendor failed or refused; callers retry later."""

    status = 503
    code = "embeddings_unavailable"


@runtime_checkable
class Embedder(Protocol):
    """What D (documents), the topic tagger and the benchmark embed with."""

    name: str
    dim: int

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One unit-length vector per text, in order."""
        ...


def normalize(matrix: Matrix) -> Matrix:
    """Rows scaled to unit length (a zero row stays zero rather than becoming NaN)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32, copy=False)


# One model per process, shared by every LocalEmbedder; its tokenizer (Rust `tokenizers`) is
# not documented as safe for concurrent calls, so calls take turns.
_MODEL_LOCK = threading.Lock()


@cache
def _wordllama() -> Any:
    """The packaged WordLlama model, loaded once per process from the wheel's own files."""
    import wordllama
    from wordllama import WordLlama

    package_dir = Path(wordllama.__file__).resolve().parent
    return WordLlama.load(cache_dir=package_dir, disable_download=True, dim=LOCAL_DIM)


@lru_cache(maxsize=256)
def _embed_one(text: str) -> Matrix:
    """One text's row, memoised: a chat message is embedded by the shipped-notes search, the
    library search and (when it has no Hinglish filler) the topic tagger. Read-only, as it
    is shared."""
    matrix = local_embedder()._embed_many([text])
    matrix.setflags(write=False)
    return matrix


class LocalEmbedder:
    """WordLlama 256-d, in a worker thread so a large batch never blocks the event loop.

    The model is a lookup table plus a mean, so one call on a page takes well under a
    millisecond; batching keeps the thread hops few when a whole document is embedded.
    """

    name = "wordllama-l2-supercat-256"
    dim = LOCAL_DIM

    def embed_sync(self, texts: Sequence[str]) -> Matrix:
        """Blocking embedding, for code already off the loop (the tagger, the benchmark)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) == 1:
            return _embed_one(texts[0])
        return self._embed_many(texts)

    def _embed_many(self, texts: Sequence[str]) -> Matrix:
        model = _wordllama()
        parts = []
        for start in range(0, len(texts), LOCAL_BATCH):
            batch = list(texts[start : start + LOCAL_BATCH])
            # Per batch: the topic tagger on the event loop waits one batch at most.
            with _MODEL_LOCK:
                parts.append(np.asarray(model.embed(batch, norm=False), dtype=np.float32))
        return normalize(np.vstack(parts))

    async def embed(self, texts: list[str]) -> list[list[float]]:
        # One text (a chat message or a search query) is embedded on the loop: it is usually
        # memoised already (the topic tagger embeds the same message) and costs well under a
        # millisecond otherwise, less than the hop to a worker thread and back (issue 20).
        if len(texts) == 1 and _wordllama.cache_info().currsize and not _MODEL_LOCK.locked():
            # (Not while the model is still to be loaded, half a second, or busy with a
            # document's batch in a worker thread: the loop would wait for either.)
            matrix = self.embed_sync(texts)
        else:
            matrix = await asyncio.to_thread(self.embed_sync, texts)
        return [row.tolist() for row in matrix]


class OpenAIEmbedder:
    """`POST /v1/embeddings` through the official `openai` SDK (or any compatible server)."""

    def __init__(self, *, api_key: str | None, base_url: str | None, model: str, dim: int) -> None:
        import openai

        self.name = f"openai:{model}"
        self.dim = dim
        self._model = model
        self._client = openai.AsyncOpenAI(
            api_key=api_key or "not-needed", base_url=base_url, max_retries=2, timeout=30.0
        )

    async def embed(self, texts: list[str]) -> list[list[float]]:
        import openai

        out: list[list[float]] = []
        for start in range(0, len(texts), VENDOR_BATCH):
            batch = texts[start : start + VENDOR_BATCH]
            try:
                response = await self._client.embeddings.create(
                    model=self._model, input=batch, dimensions=self.dim
                )
            except openai.OpenAIError as exc:
                raise _unavailable("OpenAI", exc) from exc
            rows = sorted(response.data, key=lambda item: item.index)
            out.extend(_checked(self, [row.embedding for row in rows], len(batch)))
        return out


class GeminiEmbedder:
    """`batchEmbedContents` through the official `google-genai` SDK."""

    def __init__(self, *, api_key: str | None, base_url: str | None, model: str, dim: int) -> None:
        from google import genai
        from google.genai import types

        self.name = f"gemini:{model}"
        self.dim = dim
        self._model = model
        options = types.HttpOptions(
            base_url=base_url,
            timeout=30_000,
            retry_options=types.HttpRetryOptions(attempts=3),
        )
        self._client = genai.Client(api_key=api_key or "not-needed", http_options=options)
        self._config = types.EmbedContentConfig(output_dimensionality=dim)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        from google.genai import errors

        out: list[list[float]] = []
        for start in range(0, len(texts), VENDOR_BATCH):
            batch = texts[start : start + VENDOR_BATCH]
            try:
                response = await self._client.aio.models.embed_content(
                    model=self._model,
                    contents=batch,  # type: ignore[arg-type]  # list[str] is accepted
                    config=self._config,
                )
            except errors.APIError as exc:
                raise _unavailable("Gemini", exc) from exc
            rows = [list(e.values or []) for e in (response.embeddings or [])]
            out.extend(_checked(self, rows, len(batch)))
        return out


def _unavailable(vendor: str, exc: Exception) -> EmbeddingUnavailable:
    # The SDK's message can echo request details; only the class name is surfaced.
    return EmbeddingUnavailable(
        f"The {vendor} embeddings API failed ({type(exc).__name__}); try again later."
    )


def _checked(embedder: Embedder, rows: list[list[float]], expected: int) -> list[list[float]]:
    """Vendor rows, verified (count, dimension) and normalized: Gemini's truncated
    dimensions are not unit length, and a wrong size must never reach the index."""
    if len(rows) != expected or any(len(row) != embedder.dim for row in rows):
        raise EmbeddingUnavailable(
            f"The embeddings API answered {len(rows)} vectors of an unexpected size "
            f"(wanted {expected} of {embedder.dim})."
        )
    matrix = normalize(np.asarray(rows, dtype=np.float32))
    return [row.tolist() for row in matrix]


@cache
def local_embedder() -> LocalEmbedder:
    """The process's one LocalEmbedder (the model itself is loaded lazily, once)."""
    return LocalEmbedder()


def build_embedder(settings: Settings) -> Embedder:
    """The embedder the `EMBEDDINGS` setting names."""
    if settings.embeddings == "openai":
        key = settings.openai_api_key
        return OpenAIEmbedder(
            api_key=key.get_secret_value() if key else None,
            base_url=settings.openai_base_url,
            model=settings.embeddings_openai_model,
            dim=settings.embeddings_dimensions,
        )
    if settings.embeddings == "gemini":
        key = settings.gemini_api_key
        return GeminiEmbedder(
            api_key=key.get_secret_value() if key else None,
            base_url=settings.gemini_base_url,
            model=settings.embeddings_gemini_model,
            dim=settings.embeddings_dimensions,
        )
    return local_embedder()
