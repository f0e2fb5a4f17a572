"""The same pipeline with REDIS_URL set: processing runs as a durable job on Redis."""

from __future__ import annotations

import uuid

import pytest

from server.config import Settings
from tests.conftest import Api, make_settings
from tests.library.helpers import make_pdf, search, upload, wait_processed


@pytest.fixture(scope="module")
async def app_settings(
    mongo_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return make_settings(mongo_url, tmp_path_factory.mktemp("data"), redis_url=redis_url)


async def test_a_pdf_is_processed_by_the_durable_job_and_searchable(api: Api) -> None:
    me = await api.register()
    marker = f"stoichio{uuid.uuid4().hex[:8]}"
    pdf = make_pdf([["Mole concept"], [f"Limiting reagent and {marker} ratios decide the yield."]])
    response = await upload(api, me, pdf, filename="mole.pdf")
    assert response.status_code == 202, response.text
    document = await wait_processed(api, me, response.json()["id"], timeout=60)
    assert document["status"] == "ready" and document["pages"] == 2
    hits = await search(api, me, f"{marker} limiting reagent")
    assert hits[0]["document_id"] == document["id"] and hits[0]["page"] == 2
