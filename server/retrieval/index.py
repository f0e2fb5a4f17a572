"""Hybrid passage ranking: vector cosine plus BM25, fused by reciprocal rank.

Why both: learners paraphrase ("why does the ball come back down") where notes say "gravity
decelerates the body"; vectors find that. Exact terms (a formula's name, "Kreb's cycle", a
section number) are where static embeddings blur and BM25 is sharp. Reciprocal rank fusion
(score = sum over rankings of 1 / (RRF_K + rank)) needs no score calibration between the two,
which matters because BM25 scores are unbounded and depend on the corpus.

The index is pure computation over candidate chunks handed in by the documents feature (which
already filtered them to what the caller may read): no database access here. Adding or
removing chunks marks it dirty; the matrices and the BM25 index are rebuilt on the next search
(docs/BENCHMARKS.md: rebuilding 10,000 chunks takes well under a second, cheaper than keeping
bm25s's sparse matrices incrementally correct).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Final

import bm25s
import numpy as np

from server.retrieval.embedders import Matrix, normalize

if TYPE_CHECKING:
    from server.retrieval.embedders import Embedder

RRF_K: Final = 60
# A passage found only by the vector ranking must be at least this similar to the query;
# otherwise every search would return `limit` passages, relevant or not (docs/LIBRARY.md).
MIN_COSINE: Final = 0.2
# How deep each ranking goes before fusion.
DEPTH: Final = 50

_WORD = re.compile(r"[a-z0-9]+")
_ACCENTS = re.compile(r"[\u0300-\u036f]")
# English function words plus the Hinglish ones learners mix in ("ATP kahan banta hai").
STOPWORDS: Final = frozenset(
    """a an and are as at be by for from has have how i in into is it its me my of on or so
    that the their then there these this to was were what when where which who why will with
    you your do does did can could should would explain tell about please pls give show
    kya hai hain ka ki ke ko se me mein mai main kaise kyun kyu kahan kab aur ya bhi ye yeh
    wo woh ho hota hoti hote karo kare karte karta krna karna batao bataye samjhao hum
    tum""".split()
)


@lru_cache(maxsize=65_536)
def _term(token: str) -> str:
    """A token's indexed form ("" for a stop word); cached: vocabularies are small."""
    if token in STOPWORDS:
        return ""
    if len(token) > 3 and token.endswith("s") and token[-2] not in "sui":
        return token[:-3] + "y" if token.endswith("ies") else token[:-1]
    return token


def lexical_tokens(text: str) -> list[str]:
    """Lower-cased word tokens with stop words dropped and a light plural fold."""
    text = text.lower()
    if not text.isascii():
        text = _ACCENTS.sub("", unicodedata.normalize("NFKD", text))
    return [term for term in map(_term, _WORD.findall(text)) if term]


@dataclass(frozen=True, slots=True)
class Passage:
    """A ranked passage as the API and the chat grounding see it (`page` counts from 1)."""

    document_id: str
    title: str
    page: int
    text: str
    score: float


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stored chunk offered for ranking; `embedding` is unit length, from the same
    embedder as the query."""

    chunk_id: str
    document_id: str
    title: str
    page: int
    text: str
    embedding: Sequence[float]


@dataclass(frozen=True, slots=True)
class Ranked:
    """One fused hit with the evidence behind it (for the benchmark and explanations)."""

    candidate: Candidate
    score: float
    cosine: float
    lexical: float


class HybridIndex:
    """Candidates ranked by vector cosine and BM25, fused by reciprocal rank."""

    def __init__(self, candidates: Iterable[Candidate] = (), *, dim: int | None = None) -> None:
        self._items: dict[str, Candidate] = {}
        self._tokens: dict[str, list[str]] = {}  # per chunk, so a rebuild never re-tokenizes
        self._dim = dim
        self._order: list[Candidate] = []
        self._matrix: Matrix = np.zeros((0, dim or 0), dtype=np.float32)
        self._bm25: bm25s.BM25 | None = None
        self._dirty = True
        self.add(candidates)

    def __len__(self) -> int:
        return len(self._items)

    def add(self, candidates: Iterable[Candidate]) -> None:
        """Adds (or replaces, by chunk_id) candidates; the rebuild happens on the next search."""
        for candidate in candidates:
            if self._dim is None:
                self._dim = len(candidate.embedding)
            if len(candidate.embedding) != self._dim:
                raise ValueError(
                    f"chunk {candidate.chunk_id!r} has {len(candidate.embedding)} dimensions, "
                    f"the index {self._dim}: were the documents embedded with another model?"
                )
            self._items[candidate.chunk_id] = candidate
            self._tokens[candidate.chunk_id] = lexical_tokens(
                f"{candidate.title} {candidate.text}"
            ) or ["_"]
            self._dirty = True

    def remove(self, *, chunk_ids: Iterable[str] = (), document_id: str | None = None) -> int:
        """Removes chunks by id and/or every chunk of one document; returns how many went."""
        doomed = set(chunk_ids)
        if document_id is not None:
            doomed.update(k for k, c in self._items.items() if c.document_id == document_id)
        removed = 0
        for key in doomed:
            if self._items.pop(key, None) is not None:
                del self._tokens[key]
                removed += 1
        if removed:
            self._dirty = True
        return removed

    def _rebuild(self) -> None:
        self._order = list(self._items.values())
        dim = self._dim or 0
        if self._order:
            self._matrix = normalize(
                np.asarray([c.embedding for c in self._order], dtype=np.float32)
            )
            corpus = [self._tokens[c.chunk_id] for c in self._order]
            bm25 = bm25s.BM25()
            bm25.index(corpus, show_progress=False)
            self._bm25 = bm25
        else:
            self._matrix = np.zeros((0, dim), dtype=np.float32)
            self._bm25 = None
        self._dirty = False

    def _vector_scores(self, query_vector: Sequence[float]) -> Matrix:
        query = np.asarray(query_vector, dtype=np.float32)
        norm = float(np.linalg.norm(query))
        if norm == 0 or query.shape[0] != self._matrix.shape[1]:
            return np.zeros(len(self._order), dtype=np.float32)
        return self._matrix @ (query / norm)

    def _lexical_scores(self, query: str) -> Matrix:
        tokens = lexical_tokens(query)
        if self._bm25 is None or not tokens:
            return np.zeros(len(self._order), dtype=np.float32)
        # Tokens the corpus never saw carry no weight; bm25s rejects an all-unknown query.
        known = [t for t in tokens if t in self._bm25.vocab_dict]
        if not known:
            return np.zeros(len(self._order), dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)

    def rank(
        self,
        query: str,
        query_vector: Sequence[float] | None,
        limit: int,
        *,
        mode: str = "hybrid",
        min_cosine: float = MIN_COSINE,
    ) -> list[Ranked]:
        """The best `limit` candidates. `mode`: hybrid, vector or lexical (the benchmark
        compares them). Without a query vector, hybrid is lexical alone."""
        if self._dirty:
            self._rebuild()
        if not self._order or limit <= 0:
            return []
        cosine = (
            self._vector_scores(query_vector)
            if query_vector is not None
            else np.zeros(len(self._order), dtype=np.float32)
        )
        lexical = self._lexical_scores(query)
        fused: dict[int, float] = {}
        if mode in ("hybrid", "vector") and query_vector is not None:
            for rank, i in enumerate(_top(cosine, DEPTH)):
                if cosine[i] < min_cosine and not (mode == "hybrid" and lexical[i] > 0):
                    continue  # weak on meaning and no shared word: not relevant
                fused[int(i)] = fused.get(int(i), 0.0) + 1.0 / (RRF_K + rank + 1)
        if mode in ("hybrid", "lexical"):
            for rank, i in enumerate(_top(lexical, DEPTH)):
                if lexical[i] <= 0:
                    break
                fused[int(i)] = fused.get(int(i), 0.0) + 1.0 / (RRF_K + rank + 1)
        best = sorted(fused.items(), key=lambda kv: (-kv[1], self._order[kv[0]].chunk_id))
        return [
            Ranked(self._order[i], round(score, 6), float(cosine[i]), float(lexical[i]))
            for i, score in best[:limit]
        ]

    async def search(
        self, query: str, limit: int, *, embedder: Embedder, mode: str = "hybrid"
    ) -> list[Passage]:
        """Embeds `query` with the candidates' embedder and returns the best passages."""
        vector = None
        if mode != "lexical" and query.strip():
            vector = (await embedder.embed([query]))[0]
        return [
            Passage(
                document_id=r.candidate.document_id,
                title=r.candidate.title,
                page=r.candidate.page,
                text=r.candidate.text,
                score=r.score,
            )
            for r in self.rank(query, vector, limit, mode=mode)
        ]


def _top(scores: Matrix, depth: int) -> list[int]:
    """Indices of the `depth` highest scores, best first (argpartition: O(n))."""
    n = scores.shape[0]
    if n == 0:
        return []
    k = min(depth, n)
    part = np.argpartition(-scores, k - 1)[:k]
    return [int(i) for i in part[np.argsort(-scores[part], kind="stable")]]
