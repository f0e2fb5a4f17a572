"""A per-process cache of built search indexes, so a search does not reload and re-rank
every readable chunk from scratch (0.2-0.45 s at DOCUMENT_SEARCH_CANDIDATES, on every chat
message).

Correct across instances: each search takes the ready documents the caller may read (from
`service._ready_documents`, a list every document status change drops on every instance over
the control channel); their ids and `updated_at` make the entry's version (`library_version`).
A document deleted or newly ready on any instance changes that set, so the next search
anywhere misses and rebuilds. A ready
document's chunks never change (processing only touches `queued`/`processing` documents and
replaces chunks before the document turns ready), so the set of ready documents is the
version of the chunks too.

The key is the caller's readable filter itself (owner id, organization, group ids) plus the
`scopes`/`topics` narrowing and the embedder: an entry built for one user is never used for
another, even when they could read the same documents.

Bounded: at most MAX_ENTRIES indexes and MAX_CHUNKS chunks in all, least recently used
evicted first (docs/LIBRARY.md); an index larger than MAX_CHUNKS is not kept.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from server.retrieval import HybridIndex

MAX_ENTRIES: Final = 64
MAX_CHUNKS: Final = 20_000


def cache_key(*, readable: dict[str, Any], topics: Sequence[str] | None, embedder: str) -> str:
    """A stable key for one caller's filter (ObjectIds as strings, group ids sorted so
    membership order does not matter)."""

    def canonical(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: canonical(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            items = [canonical(v) for v in value]
            # `$in` lists (group ids) are sets; `$or`/`$and` branches keep their order.
            return sorted(items, key=repr) if all(isinstance(i, str) for i in items) else items
        return str(value) if value is not None and not isinstance(value, str | int) else value

    raw = json.dumps(
        [canonical(readable), sorted(topics) if topics is not None else None, embedder],
        sort_keys=True,
    )
    return hashlib.sha256(raw.encode()).hexdigest()


def library_version(documents: Iterable[tuple[Any, datetime | None]]) -> str:
    """The version of what a search covers: a digest of the ready readable documents' ids and
    `updated_at` (order independent)."""
    rows = sorted(
        f"{doc_id}:{updated.isoformat() if updated else ''}" for doc_id, updated in documents
    )
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


@dataclass(slots=True)
class _Entry:
    version: str
    index: HybridIndex
    size: int


class IndexCache:
    """An LRU of built `HybridIndex`es by key, each valid for one library version."""

    def __init__(self, *, max_entries: int = MAX_ENTRIES, max_chunks: int = MAX_CHUNKS) -> None:
        self.max_entries = max_entries
        self.max_chunks = max_chunks
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._chunks = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def chunks(self) -> int:
        return self._chunks

    def get(self, key: str, version: str) -> HybridIndex | None:
        entry = self._entries.get(key)
        if entry is None or entry.version != version:
            if entry is not None:  # outdated: the library changed since it was built
                self._drop(key)
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry.index

    def put(self, key: str, version: str, index: HybridIndex) -> None:
        """Keep a built index (one already ranked once, so nothing is left to rebuild)."""
        self._drop(key)
        size = len(index)
        if size > self.max_chunks or self.max_entries <= 0:
            return
        self._entries[key] = _Entry(version=version, index=index, size=size)
        self._chunks += size
        while len(self._entries) > self.max_entries or self._chunks > self.max_chunks:
            self._drop(next(iter(self._entries)))

    def clear(self) -> None:
        self._entries.clear()
        self._chunks = 0
        self.hits = self.misses = 0

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._chunks -= entry.size
