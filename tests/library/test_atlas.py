"""VECTOR_SEARCH=atlas on a database without vector search (the embedded one, like a plain
mongod): the search answers a clear 503, not a 500; uploads and processing still work."""

from __future__ import annotations

import pytest

from server.config import Settings
from tests.conftest import Api, make_settings
from tests.library.helpers import BASE, upload, wait_processed


@pytest.fixture(scope="module")
async def app_settings(mongo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(mongo_url, tmp_path_factory.mktemp("data"), vector_search="atlas")


async def test_search_without_vector_search_is_503(api: Api) -> None:
    me = await api.register()
    response = await upload(api, me, b"Kinetic energy is half m v squared.", filename="ke.txt")
    assert (await wait_processed(api, me, response.json()["id"]))["status"] == "ready"
    search = await api.client.get(
        f"{BASE}/documents/search", params={"q": "kinetic energy"}, headers=me["auth"]
    )
    assert search.status_code == 503, search.text
    assert search.json()["error"]["code"] == "vector_search_unavailable"
