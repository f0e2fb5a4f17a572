"""`VECTOR_SEARCH=atlas`: the `$vectorSearch` stage the documents feature runs on its chunks.

MongoDB Atlas (or MongoDB 8.2+ with mongot) ranks by vector there, so a deployment with
millions of chunks never loads them into the server; the filter is the caller's readable
scope, so access control is applied inside the search, not after it. The collection needs a
vector search index (docs/LIBRARY.md shows its definition) over `embedding` with the
embedder's dimensions and `dotProduct` similarity (our vectors are unit length), plus the
filter fields. A plain mongod (and the embedded test database) answers the stage with an
error; `vector_search_error` turns that into a clear 503 instead of a 500.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from server.errors import ServiceUnavailable

# Atlas recommends examining 10-20x as many candidates as results for good recall.
CANDIDATE_FACTOR: Final = 20
MAX_CANDIDATES: Final = 10_000  # Atlas's own ceiling for numCandidates


def vector_search_stage(
    *,
    index: str,
    query_vector: Sequence[float],
    limit: int,
    filter: Mapping[str, Any] | None = None,
    path: str = "embedding",
) -> dict[str, Any]:
    """The `$vectorSearch` stage: approximate nearest neighbours among `filter`'s matches.

    `filter` may only use fields declared as `filter` fields in the index definition and
    MQL comparison operators ($eq, $in, $and, $or, ...), which the readable-scope filter is.
    """
    stage: dict[str, Any] = {
        "index": index,
        "path": path,
        "queryVector": [float(x) for x in query_vector],
        "numCandidates": min(MAX_CANDIDATES, max(limit * CANDIDATE_FACTOR, 100)),
        "limit": limit,
    }
    if filter:
        stage["filter"] = dict(filter)
    return {"$vectorSearch": stage}


def vector_search_pipeline(
    *,
    index: str,
    query_vector: Sequence[float],
    limit: int,
    filter: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The stage plus a projection carrying the similarity as `score` (embedding dropped)."""
    return [
        vector_search_stage(index=index, query_vector=query_vector, limit=limit, filter=filter),
        {"$set": {"score": {"$meta": "vectorSearchScore"}}},
        {"$project": {"embedding": 0}},
    ]


def vector_search_error(exc: Exception) -> ServiceUnavailable:
    """The error to raise when the database refused `$vectorSearch` (pymongo's
    OperationFailure): the server's message is not echoed (it can name collections)."""
    code = getattr(exc, "code", None)
    return ServiceUnavailable(
        "Vector search is not available on this database (VECTOR_SEARCH=atlas needs MongoDB "
        "Atlas or MongoDB 8.2+ with mongot, and a vector search index on document_chunks). "
        "Set VECTOR_SEARCH=local to rank in the server instead."
        + (f" (database error code {code})" if isinstance(code, int) else ""),
        code="vector_search_unavailable",
    )
