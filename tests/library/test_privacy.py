"""A learner's documents in their export, and gone with their account."""

from __future__ import annotations

import uuid
from typing import Any

from beanie import PydanticObjectId

from models import DocumentChunk, LibraryDocument
from tests.conftest import Api
from tests.library.helpers import BASE, make_pdf, search, upload, wait_processed


async def test_export_holds_the_learners_documents_with_their_text(api: Api) -> None:
    me = await api.register()
    other = await api.register()
    marker = f"osmosis{uuid.uuid4().hex[:8]}"
    pdf = make_pdf([["Cell transport"], [f"Water moves by {marker} across the membrane."]])
    mine = (await upload(api, me, pdf, filename="transport.pdf")).json()
    await wait_processed(api, me, mine["id"])
    theirs = (await upload(api, other, f"Their {uuid.uuid4().hex} notes".encode())).json()
    export = await api.client.get(f"{BASE}/users/me/export", headers=me["auth"])
    assert export.status_code == 200, export.text
    documents = export.json()["documents"]
    assert [d["id"] for d in documents] == [mine["id"]]
    assert documents[0]["title"] == "transport" and documents[0]["sha256"] == mine["sha256"]
    assert any(marker in part["text"] and part["page"] == 2 for part in documents[0]["text"])
    assert theirs["id"] not in export.text


async def test_erasure_deletes_documents_chunks_and_files(api: Api) -> None:
    me = await api.register()
    bystander = await api.register()
    marker = f"gluco{uuid.uuid4().hex[:8]}"
    owner = PydanticObjectId(me["user"]["id"])
    ids = []
    for text in (
        f"Glycolysis splits {marker} in the cytoplasm.",
        f"More on {marker} {uuid.uuid4()}",
    ):
        ids.append((await upload(api, me, text.encode(), filename="bio.md")).json()["id"])
    for document_id in ids:
        await wait_processed(api, me, document_id)
    kept = (await upload(api, bystander, f"Bystander {marker} notes".encode())).json()["id"]
    await wait_processed(api, bystander, kept)
    files: Any = LibraryDocument.get_pymongo_collection().database["document_files.files"]
    assert await files.count_documents({"metadata.owner_id": owner}) == 2

    erased = await api.client.delete(f"{BASE}/users/me", headers=me["auth"])
    assert erased.status_code == 204, erased.text
    assert await LibraryDocument.find({"owner_id": owner}).count() == 0
    assert await DocumentChunk.find({"owner_id": owner}).count() == 0
    assert await files.count_documents({"metadata.owner_id": owner}) == 0
    chunks = LibraryDocument.get_pymongo_collection().database["document_files.chunks"]
    for document_id in ids:
        assert await DocumentChunk.find({"document_id": PydanticObjectId(document_id)}).count() == 0
    assert await chunks.count_documents({}) >= 1  # the bystander's file is still there
    hits = await search(api, bystander, marker)
    assert {h["document_id"] for h in hits} == {kept}
