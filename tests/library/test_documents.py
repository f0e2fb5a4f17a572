"""The study library against real servers: upload, processing, search, scopes, delete."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from beanie import PydanticObjectId

from models import DocumentChunk, LibraryDocument
from server.config import Settings
from tests.admin.helpers import set_role
from tests.conftest import Api, make_settings
from tests.library.helpers import (
    BASE,
    blank_pdf,
    encrypted_pdf,
    make_pdf,
    search,
    truncated_pdf,
    upload,
    wait_processed,
)

MAX_BYTES = 64 * 1024

NEWTON = [
    [
        "Chapter 5: Laws of Motion",
        "Newton's first law: a body stays at rest or in uniform motion",
        "unless an external force acts on it. This is the law of inertia.",
    ],
    [
        "Newton's third law of motion",
        "To every action there is an equal and opposite reaction.",
        "The forces act on different bodies, so they never cancel each other.",
        "Example: a rocket pushes exhaust gas down and the gas pushes the rocket up.",
    ],
    [
        "Friction",
        "Static friction adjusts itself up to a limiting value mu_s times N.",
    ],
]

CELL_NOTES = (
    "Mitochondria are the powerhouse of the cell.\n\n"
    "ATP is made in the mitochondria by oxidative phosphorylation on the inner membrane.\n\n"
    "Ribosomes make proteins; the nucleus holds the genetic material.\n"
)


@pytest.fixture(scope="module")
async def app_settings(mongo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir: Path = tmp_path_factory.mktemp("data")
    return make_settings(mongo_url, data_dir, document_max_bytes=MAX_BYTES)


def _unique(text: str) -> bytes:
    """Distinct bytes per test, so dedupe never links two tests' uploads."""
    return f"{text}\n\n(copy {uuid.uuid4().hex})\n".encode()


async def test_pdf_upload_is_processed_page_by_page_and_searchable(api: Api) -> None:
    me = await api.register()
    data = make_pdf([*NEWTON, [f"marker {uuid.uuid4().hex}"]])
    response = await upload(api, me, data, filename="laws.pdf", subject="Physics")
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] in ("queued", "processing", "ready")
    assert accepted["content_type"] == "application/pdf"
    assert accepted["title"] == "laws" and accepted["filename"] == "laws.pdf"
    assert accepted["scope"] == "personal" and accepted["owner_id"] == me["user"]["id"]
    assert accepted["size_bytes"] == len(data) and len(accepted["sha256"]) == 64
    document = await wait_processed(api, me, accepted["id"])
    assert document["status"] == "ready", document
    assert document["pages"] == 4 and document["chunks"] >= 4
    assert document["progress"] == {"done": document["chunks"], "total": document["chunks"]}
    assert document["error"] is None
    # Chunks never span pages: each carries the page it came from.
    stored = await DocumentChunk.find({"document_id": PydanticObjectId(accepted["id"])}).to_list()
    assert {c.page for c in stored} == {1, 2, 3, 4}
    assert all(c.embedding for c in stored)
    # Chunks are tagged with syllabus topics, like learner messages.
    third_law = next(c for c in stored if "opposite reaction" in c.text)
    assert third_law.topics[0].id == "physics.laws_of_motion"
    hits = await search(api, me, "equal and opposite reaction rocket")
    assert hits and hits[0]["document_id"] == accepted["id"] and hits[0]["page"] == 2
    assert hits[0]["title"] == "laws" and "opposite reaction" in hits[0]["text"]
    assert set(hits[0]) == {"document_id", "title", "page", "text", "score"}
    original = await api.client.get(f"{BASE}/documents/{accepted['id']}/file", headers=me["auth"])
    assert original.status_code == 200 and original.content == data
    assert original.headers["content-type"] == "application/pdf"
    assert original.headers["x-content-type-options"] == "nosniff"


async def test_text_and_markdown_are_recognised_by_content_not_name(api: Api) -> None:
    me = await api.register()
    plain = await upload(api, me, _unique(CELL_NOTES), filename="cell.pdf")
    assert plain.status_code == 202 and plain.json()["content_type"] == "text/plain"
    markdown = _unique("# Cell biology\n\n- **ATP** synthase sits in the inner membrane\n")
    marked = await upload(api, me, markdown, filename="cell.txt", title="My cell notes")
    assert marked.status_code == 202 and marked.json()["content_type"] == "text/markdown"
    assert marked.json()["title"] == "My cell notes"
    named = await upload(api, me, _unique("plain words only"), filename="plain.md")
    assert named.json()["content_type"] == "text/markdown"
    document = await wait_processed(api, me, plain.json()["id"])
    assert document["status"] == "ready" and document["chunks"] >= 1
    hits = await search(api, me, "where is ATP made in the cell")
    assert hits[0]["document_id"] == plain.json()["id"] and hits[0]["page"] == 1
    assert "mitochondria" in hits[0]["text"]


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        b"PK\x03\x04" + b"\x00\x01" * 40,  # a zip (docx)
        "naïve café".encode("latin-1"),  # not UTF-8
        b"text with a NUL \x00 byte",
    ],
)
async def test_other_formats_are_refused_with_415(api: Api, data: bytes) -> None:
    me = await api.register()
    response = await upload(api, me, data, filename="notes.txt")
    assert response.status_code == 415, response.text
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert await LibraryDocument.find({"owner_id": PydanticObjectId(me["user"]["id"])}).count() == 0


async def test_a_file_over_the_limit_is_413_and_nothing_is_kept(api: Api) -> None:
    me = await api.register()
    owner = PydanticObjectId(me["user"]["id"])
    files = LibraryDocument.get_pymongo_collection().database["document_files.files"]
    just_over = b"a" * (MAX_BYTES + 1)  # under the route's body cap: refused by the service
    far_over = b"a" * (MAX_BYTES * 4)  # above the route's body cap: refused while streaming
    for data in (just_over, far_over):
        response = await upload(api, me, data, filename="big.txt")
        assert response.status_code == 413, response.text
        assert response.json()["error"]["code"] == "payload_too_large"
    assert await LibraryDocument.find({"owner_id": owner}).count() == 0
    assert await files.count_documents({"metadata.owner_id": owner}) == 0
    exactly = await upload(api, me, b"b" * MAX_BYTES, filename="fits.txt")
    assert exactly.status_code == 202, exactly.text
    # Other JSON routes keep the general body cap.
    huge_json = await api.client.post(
        f"{BASE}/conversations", content=b"{" + b" " * 2_000_000 + b"}", headers=me["auth"]
    )
    assert huge_json.status_code == 413


async def test_the_same_bytes_twice_are_one_document_per_owner(api: Api) -> None:
    me = await api.register()
    data = _unique(CELL_NOTES)
    answers = await asyncio.gather(*(upload(api, me, data, filename="a.txt") for _ in range(4)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 200, 200, 202], statuses
    assert len({a.json()["id"] for a in answers}) == 1
    again = await upload(api, me, data, filename="renamed.txt", title="Other title")
    assert again.status_code == 200 and again.json()["id"] == answers[0].json()["id"]
    owner = PydanticObjectId(me["user"]["id"])
    assert await LibraryDocument.find({"owner_id": owner}).count() == 1
    files = LibraryDocument.get_pymongo_collection().database["document_files.files"]
    assert await files.count_documents({"metadata.owner_id": owner}) == 1
    other = await api.register()
    theirs = await upload(api, other, data, filename="a.txt")
    assert theirs.status_code == 202 and theirs.json()["id"] != answers[0].json()["id"]


async def test_corrupt_and_encrypted_pdfs_fail_as_unreadable(api: Api) -> None:
    me = await api.register()
    broken = b"%PDF-1.4\n" + uuid.uuid4().bytes + b"\x93garbage that is no PDF at all\n%%EOF"
    for data in (broken, encrypted_pdf(), truncated_pdf()):
        response = await upload(api, me, data)
        assert response.status_code == 202, response.text
        document = await wait_processed(api, me, response.json()["id"])
        assert document["status"] == "failed", document
        assert document["error"]["code"] == "unreadable_document"
        assert document["error"]["message"]
        assert document["chunks"] == 0


async def test_a_pdf_without_a_text_layer_fails_with_no_text(api: Api) -> None:
    me = await api.register()
    response = await upload(api, me, blank_pdf())
    document = await wait_processed(api, me, response.json()["id"])
    assert document["status"] == "failed" and document["error"]["code"] == "no_text"


async def test_chunks_of_another_embedder_still_match_on_words(api: Api) -> None:
    """EMBEDDINGS changed since a document was processed: its vectors have another size;
    the search neither fails nor drops it, it ranks it by its words."""
    me = await api.register()
    marker = f"zeolite{uuid.uuid4().hex[:8]}"
    response = await upload(api, me, _unique(f"Ion exchange with {marker} softens water."))
    document_id = response.json()["id"]
    await wait_processed(api, me, document_id)
    await DocumentChunk.get_pymongo_collection().update_many(
        {"document_id": PydanticObjectId(document_id)}, {"$set": {"embedding": [0.5, 0.5, 0.5]}}
    )
    assert (await search(api, me, f"{marker} water"))[0]["document_id"] == document_id


async def test_other_learners_personal_documents_are_invisible(api: Api) -> None:
    owner = await api.register()
    other = await api.register()
    secret = f"zyxsecret{uuid.uuid4().hex[:8]}"
    response = await upload(api, owner, _unique(f"My private note about {secret} kinetics."))
    document_id = response.json()["id"]
    assert (await wait_processed(api, owner, document_id))["status"] == "ready"
    assert (await search(api, owner, secret))[0]["document_id"] == document_id
    for path in (f"/documents/{document_id}", f"/documents/{document_id}/file"):
        seen = await api.client.get(f"{BASE}{path}", headers=other["auth"])
        assert seen.status_code == 404 and seen.json()["error"]["code"] == "document_not_found"
    gone = await api.client.delete(f"{BASE}/documents/{document_id}", headers=other["auth"])
    assert gone.status_code == 404
    listed = await api.client.get(f"{BASE}/documents", headers=other["auth"])
    assert document_id not in {d["id"] for d in listed.json()["items"]}
    assert await search(api, other, secret) == []
    assert await search(api, other, f"private note about {secret} kinetics") == []
    for bad in ("not-an-id", "0" * 24):
        missing = await api.client.get(f"{BASE}/documents/{bad}", headers=owner["auth"])
        assert missing.status_code == 404


async def test_search_validates_its_query(api: Api) -> None:
    me = await api.register()
    cases: list[dict[str, str | int]] = [
        {"q": ""},
        {"q": "x", "limit": 0},
        {"q": "x", "limit": 21},
        {},
    ]
    for params in cases:
        response = await api.client.get(
            f"{BASE}/documents/search", params=params, headers=me["auth"]
        )
        assert response.status_code == 422, params
    unauthenticated = await api.client.get(f"{BASE}/documents/search", params={"q": "x"})
    assert unauthenticated.status_code == 401


async def _group(api: Api, mentor: dict[str, Any]) -> dict[str, Any]:
    response = await api.client.post(
        f"{BASE}/groups", json={"name": "Batch"}, headers=mentor["auth"]
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_a_group_mentor_shares_with_the_groups_members_only(api: Api) -> None:
    mentor = await set_role(await api.register(), "mentor")
    group = await _group(api, mentor)
    member = await api.register()
    joined = await api.client.post(
        f"{BASE}/groups/join", json={"invite_code": group["invite_code"]}, headers=member["auth"]
    )
    assert joined.status_code == 200
    outsider = await api.register()
    topic = f"quux{uuid.uuid4().hex[:8]}"
    shared = await upload(
        api,
        mentor,
        _unique(f"Group notes on {topic} projectile range."),
        scope=f"group:{group['id']}",
    )
    assert shared.status_code == 202, shared.text
    assert shared.json()["scope"] == f"group:{group['id']}"
    document_id = shared.json()["id"]
    await wait_processed(api, mentor, document_id)
    assert (await search(api, member, topic))[0]["document_id"] == document_id
    seen = await api.client.get(f"{BASE}/documents/{document_id}/file", headers=member["auth"])
    assert seen.status_code == 200
    assert await search(api, outsider, topic) == []
    hidden = await api.client.get(f"{BASE}/documents/{document_id}", headers=outsider["auth"])
    assert hidden.status_code == 404
    # A member reads but does not delete; only the group's mentor shares with the group.
    refused = await api.client.delete(f"{BASE}/documents/{document_id}", headers=member["auth"])
    assert refused.status_code == 403
    for who in (member, outsider, await set_role(await api.register(), "mentor")):
        denied = await upload(api, who, _unique("x"), scope=f"group:{group['id']}")
        assert denied.status_code == 403, denied.text
        assert denied.json()["error"]["code"] == "scope_forbidden"
    for scope in ("group:nope", "everyone", "group:"):
        invalid = await upload(api, mentor, _unique("x"), scope=scope)
        assert invalid.status_code == 422 and invalid.json()["error"]["code"] == "invalid_scope"


async def test_org_scope_by_mentors_and_admins_reaches_the_organization_only(api: Api) -> None:
    slug = f"north-{uuid.uuid4().hex[:6]}"
    root = await set_role(await api.register(), "admin")
    created = await api.client.post(
        f"{BASE}/admin/orgs", json={"name": "North", "slug": slug}, headers=root["auth"]
    )
    assert created.status_code == 201, created.text
    mentor = await set_role(await api.register(), "mentor")
    colleague = await api.register()
    northerner = await api.register(org_slug=slug)
    learner_try = await upload(api, colleague, _unique("x"), scope="org")
    assert learner_try.status_code == 403
    topic = f"blorp{uuid.uuid4().hex[:8]}"
    shared = await upload(
        api, mentor, _unique(f"Org notes on {topic} thermodynamics."), scope="org"
    )
    assert shared.status_code == 202 and shared.json()["scope"] == "org"
    document_id = shared.json()["id"]
    await wait_processed(api, mentor, document_id)
    assert (await search(api, colleague, topic))[0]["document_id"] == document_id
    listed = await api.client.get(f"{BASE}/documents", headers=colleague["auth"])
    assert document_id in {d["id"] for d in listed.json()["items"]}
    assert await search(api, northerner, topic) == []
    hidden = await api.client.get(f"{BASE}/documents/{document_id}", headers=northerner["auth"])
    assert hidden.status_code == 404


async def test_delete_removes_the_file_and_chunks_owner_or_org_admin_only(api: Api) -> None:
    owner = await api.register()
    response = await upload(api, owner, _unique(CELL_NOTES))
    document_id = response.json()["id"]
    await wait_processed(api, owner, document_id)
    stored = await LibraryDocument.get(PydanticObjectId(document_id))
    assert stored is not None
    files = LibraryDocument.get_pymongo_collection().database["document_files.files"]
    assert await files.count_documents({"_id": stored.file_id}) == 1
    deleted = await api.client.delete(f"{BASE}/documents/{document_id}", headers=owner["auth"])
    assert deleted.status_code == 204
    assert (
        await api.client.get(f"{BASE}/documents/{document_id}", headers=owner["auth"])
    ).status_code == 404
    assert await DocumentChunk.find({"document_id": PydanticObjectId(document_id)}).count() == 0
    assert await files.count_documents({"_id": stored.file_id}) == 0
    hits = await search(api, owner, "mitochondria powerhouse")
    assert document_id not in {h["document_id"] for h in hits}
    # An admin of the owner's organization may delete a learner's document.
    again = await upload(api, owner, _unique(CELL_NOTES))
    admin = await set_role(await api.register(), "admin")
    by_admin = await api.client.delete(
        f"{BASE}/documents/{again.json()['id']}", headers=admin["auth"]
    )
    assert by_admin.status_code == 204


async def test_listing_pages_with_a_cursor(api: Api) -> None:
    me = await api.register()
    ids = [(await upload(api, me, _unique(f"note {i}"))).json()["id"] for i in range(3)]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await api.client.get(f"{BASE}/documents", params=params, headers=me["auth"])).json()
        assert len(page["items"]) <= 2
        seen += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # Newest first, each once (organization-wide documents of other tests may interleave).
    assert [i for i in seen if i in ids] == ids[::-1] and len(seen) == len(set(seen))
    bad = await api.client.get(f"{BASE}/documents", params={"cursor": "x"}, headers=me["auth"])
    assert bad.status_code == 422


async def test_interrupted_documents_are_processed_again_at_start(app: Any, api: Api) -> None:
    from server.library import processing

    me = await api.register()
    response = await upload(api, me, _unique(CELL_NOTES))
    document_id = response.json()["id"]
    await wait_processed(api, me, document_id)
    # As if an instance died mid-processing: status left behind, partial chunks written.
    await LibraryDocument.get_pymongo_collection().update_one(
        {"_id": PydanticObjectId(document_id)},
        {"$set": {"status": "processing", "progress": {"done": 0, "total": 9}}},
    )
    assert await processing.resume_interrupted(app.state.ctx) >= 1
    document = await wait_processed(api, me, document_id)
    assert document["status"] == "ready"
    chunks = await DocumentChunk.find({"document_id": PydanticObjectId(document_id)}).count()
    assert chunks == document["chunks"]  # replaced, not doubled


async def test_a_document_deleted_while_processing_leaves_no_chunks(app: Any, api: Api) -> None:
    from server.library import processing

    me = await api.register()
    response = await upload(api, me, _unique(CELL_NOTES))
    document_id = response.json()["id"]
    await wait_processed(api, me, document_id)
    await LibraryDocument.get_pymongo_collection().update_one(
        {"_id": PydanticObjectId(document_id)}, {"$set": {"status": "queued"}}
    )

    async def delete_midway(done: int, total: int) -> None:
        # The worst interleaving: a DELETE ran entirely (document, then chunks) just before
        # this batch of chunks was written, so only the document row is gone now.
        await LibraryDocument.get_pymongo_collection().delete_one(
            {"_id": PydanticObjectId(document_id)}
        )

    result = await processing.process_document(app.state.ctx, document_id, progress=delete_midway)
    assert result is None
    assert await DocumentChunk.find({"document_id": PydanticObjectId(document_id)}).count() == 0
    assert await LibraryDocument.get(PydanticObjectId(document_id)) is None
