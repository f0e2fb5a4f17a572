"""The per-process cache of built search indexes (server/library/cache.py): a repeated
search reuses the index, a deleted or newly ready document is reflected by the next search,
and an entry is never used for another caller. Real embedded MongoDB, through the REST API.

The cache has no invalidation hook: it notices changes only through the ready documents it
reads on every search. So a document made ready or deleted through this process's API is,
for the cache, exactly what another instance doing it would be."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from server.config import Settings
from server.library import ranking
from server.library.cache import IndexCache, cache_key, library_version
from server.retrieval import Candidate, HybridIndex
from tests.admin.helpers import set_role
from tests.conftest import Api, make_settings
from tests.library.helpers import BASE, search, upload, wait_processed


@pytest.fixture(scope="module")
async def app_settings(mongo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir: Path = tmp_path_factory.mktemp("data")
    return make_settings(mongo_url, data_dir)


def _unique(text: str) -> bytes:
    return f"{text}\n\n(copy {uuid.uuid4().hex})\n".encode()


def _counts() -> tuple[int, int]:
    return ranking.INDEXES.hits, ranking.INDEXES.misses


async def _ready(api: Api, who: dict[str, object], text: str) -> str:
    response = await upload(api, who, _unique(text), filename="notes.txt")
    assert response.status_code == 202, response.text
    document_id: str = response.json()["id"]
    assert (await wait_processed(api, who, document_id))["status"] == "ready"
    return document_id


async def test_a_repeated_search_hits_and_deletes_and_new_documents_show_at_once(
    api: Api,
) -> None:
    me = await api.register()
    marker = f"vortexine{uuid.uuid4().hex[:8]}"
    first = await _ready(api, me, f"Notes on {marker}: a whirlpool in a stirred beaker.")
    hits, misses = _counts()
    assert [p["document_id"] for p in await search(api, me, marker)] == [first]
    assert _counts() == (hits, misses + 1)  # built
    assert [p["document_id"] for p in await search(api, me, f"{marker} beaker")] == [first]
    assert _counts() == (hits + 1, misses + 1)  # reused: same caller, same library

    # A new ready document: the next search misses and finds it.
    second = await _ready(api, me, f"More about {marker}: angular momentum of the vortex.")
    found = {p["document_id"] for p in await search(api, me, marker)}
    assert found == {first, second}
    assert _counts() == (hits + 1, misses + 2)

    # A deleted document: gone from the very next search.
    deleted = await api.client.delete(f"{BASE}/documents/{first}", headers=me["auth"])
    assert deleted.status_code == 204
    assert [p["document_id"] for p in await search(api, me, marker)] == [second]
    assert _counts() == (hits + 1, misses + 3)
    assert [p["document_id"] for p in await search(api, me, marker)] == [second]
    assert _counts() == (hits + 2, misses + 3)


async def test_an_index_built_for_one_caller_is_never_used_for_another(api: Api) -> None:
    mentor = await set_role(await api.register(), "mentor")
    learner = await api.register()
    marker = f"quasarite{uuid.uuid4().hex[:8]}"
    shared = await upload(api, mentor, _unique(f"Org notes on {marker} and redshift."), scope="org")
    assert shared.status_code == 202, shared.text
    shared_id = shared.json()["id"]
    await wait_processed(api, mentor, shared_id)
    private = await _ready(api, mentor, f"Mentor's private {marker} answer key.")

    assert {p["document_id"] for p in await search(api, mentor, marker)} == {shared_id, private}
    assert {p["document_id"] for p in await search(api, mentor, marker)} == {shared_id, private}
    hits, misses = _counts()
    # The learner may read only the org document: their search builds its own index.
    assert [p["document_id"] for p in await search(api, learner, marker)] == [shared_id]
    assert _counts() == (hits, misses + 1)
    assert [p["document_id"] for p in await search(api, learner, marker)] == [shared_id]
    assert _counts() == (hits + 1, misses + 1)


def _index(size: int, prefix: str = "c") -> HybridIndex:
    return HybridIndex(
        Candidate(f"{prefix}{i}", "d", "t", 1, f"word{i} text", [1.0, 0.0]) for i in range(size)
    )


def test_the_cache_is_bounded_by_entries_and_chunks_least_recently_used_first() -> None:
    cache = IndexCache(max_entries=2, max_chunks=10)
    a, b, c = _index(3), _index(3), _index(3)
    cache.put("a", "v1", a)
    cache.put("b", "v1", b)
    assert cache.get("a", "v1") is a  # a is now the most recently used
    cache.put("c", "v1", c)
    assert cache.get("b", "v1") is None and cache.get("a", "v1") is a
    assert len(cache) == 2 and cache.chunks == 6
    cache.put("d", "v1", _index(8))  # 14 chunks > 10: the least recently used go
    assert len(cache) == 1 and cache.chunks == 8
    cache.put("e", "v1", _index(11))  # larger than the whole budget: not kept
    assert cache.get("e", "v1") is None and cache.chunks == 8
    # Another version of the same key is a miss and drops the outdated entry.
    assert cache.get("d", "v2") is None and len(cache) == 0 and cache.chunks == 0


def test_keys_separate_callers_and_versions_follow_the_ready_documents() -> None:
    from datetime import UTC, datetime

    from beanie import PydanticObjectId

    g1, g2, me, you, org = (PydanticObjectId() for _ in range(5))

    def readable(owner: PydanticObjectId, groups: list[PydanticObjectId]) -> dict[str, object]:
        return {
            "$or": [
                {"owner_id": owner},
                {"scope": "org", "org_id": org},
                {"scope": "group", "group_id": {"$in": groups}},
            ]
        }

    key = cache_key(readable=readable(me, [g1, g2]), topics=None, embedder="e:2")
    assert key == cache_key(readable=readable(me, [g2, g1]), topics=None, embedder="e:2")
    assert key != cache_key(readable=readable(you, [g1, g2]), topics=None, embedder="e:2")
    assert key != cache_key(readable=readable(me, [g1]), topics=None, embedder="e:2")
    assert key != cache_key(readable=readable(me, [g1, g2]), topics=["t"], embedder="e:2")
    assert key != cache_key(readable=readable(me, [g1, g2]), topics=None, embedder="f:2")
    now = datetime.now(UTC)
    d1, d2 = PydanticObjectId(), PydanticObjectId()
    version = library_version([(d1, now), (d2, now)])
    assert version == library_version([(d2, now), (d1, now)])
    assert version != library_version([(d1, now)])
    assert version != library_version([(d1, now), (PydanticObjectId(), now)])
