"""The study library: upload, who may read what, listing, download, delete and search.

Who may read a document (`readable_scope_filter`): its owner; everyone in its organization
when its scope is `org`; the members of its study group when its scope is `group`. The same
filter guards the REST routes and the search that grounds chat replies, so a passage of
another learner's personal document can never reach anyone else.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from models import DocumentChunk, LibraryDocument, User
from models.library_document import ScopeKind
from server.cluster import Cluster
from server.errors import AppError, Forbidden, NotFound, PayloadTooLarge, ValidationFailed
from server.groups import service as groups_service
from server.ids import object_id
from server.library import files, ranking
from server.library.cache import library_version
from server.library.formats import TextSniffer, content_type_of
from server.lookups import InvalidatedCache
from server.pagination import newest_first
from server.retrieval import Passage

_READ_BYTES = 256 * 1024
_GROUP_SCOPE = re.compile(r"^group:([0-9a-fA-F]{24})$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class AsyncReadable(Protocol):
    """An upload being received (FastAPI's UploadFile)."""

    async def read(self, size: int = -1) -> bytes: ...


# The ready documents each readable filter sees (ids, titles, `updated_at`), read by every
# search (chat grounding: every message). Any document turning ready, leaving ready or going
# away drops them all on every instance (`documents_changed`, server/lookups.py); who reads
# which groups is the groups feature's cache, invalidated the same way.
_ReadyDocuments = tuple[dict[PydanticObjectId, str], list[tuple[PydanticObjectId, Any]]]
_ready: InvalidatedCache[_ReadyDocuments] = InvalidatedCache("library:ready", max_items=5_000)


def attach_cache(cluster: Cluster) -> None:
    _ready.attach(cluster)


def detach_cache(cluster: Cluster) -> None:
    _ready.detach(cluster)


async def documents_changed() -> None:
    """After a document's status changed or documents were deleted, on any path."""
    await _ready.invalidate_all()


async def _ready_documents(readable: dict[str, Any]) -> _ReadyDocuments:
    query = {"$and": [readable, {"status": "ready"}]}

    async def load() -> _ReadyDocuments:
        titles: dict[PydanticObjectId, str] = {}
        stamps: list[tuple[PydanticObjectId, Any]] = []
        async for raw in LibraryDocument.get_pymongo_collection().find(
            query, {"title": 1, "updated_at": 1}
        ):
            titles[raw["_id"]] = raw["title"]
            stamps.append((raw["_id"], raw.get("updated_at")))
        return titles, stamps

    found = await _ready.get(repr(query), load)
    return found if found is not None else ({}, [])


def _not_found() -> NotFound:
    return NotFound("Document not found.", code="document_not_found")


def _unsupported() -> AppError:
    return AppError(
        "Upload a PDF, a plain text or a Markdown file.",
        code="unsupported_media_type",
        status=415,
    )


async def readable_scope_filter(user: User) -> dict[str, Any]:
    """The MongoDB filter for the documents (and chunks: they carry the same fields) `user`
    may read. Served by the indexes on owner_id, (org_id, scope) and group_id."""
    branches: list[dict[str, Any]] = [
        {"owner_id": user.id},
        {"scope": "org", "org_id": user.org_id},
    ]
    assert user.id is not None
    group_ids = await groups_service.member_group_ids(user_id=user.id)
    if group_ids:
        branches.append({"scope": "group", "group_id": {"$in": group_ids}})
    return {"$or": branches}


async def _resolve_scope(
    user: User, scope: str | None
) -> tuple[ScopeKind, PydanticObjectId | None]:
    """Who may share where: anyone privately; a group's mentor with the group; an
    organization's mentors and admins with all of it. Anything else: 403."""
    raw = (scope or "personal").strip()
    if raw == "personal":
        return "personal", None
    if raw == "org":
        if user.role not in ("mentor", "admin"):
            raise Forbidden(
                "Only mentors and admins share documents with the organization.",
                code="scope_forbidden",
            )
        return "org", None
    match = _GROUP_SCOPE.match(raw)
    if match is None:
        raise ValidationFailed(
            "scope is `personal`, `org` or `group:<group_id>`.",
            code="invalid_scope",
            details={"fields": [{"field": "scope", "message": "unknown scope"}]},
        )
    refused = Forbidden("Only the group's mentor shares documents with it.", code="scope_forbidden")
    try:
        group = await groups_service.get_visible(user=user, group_id=match.group(1))
    except NotFound as exc:
        raise refused from exc  # a group one cannot see is refused alike: nothing confirmed
    if not groups_service.is_group_mentor(user=user, group=group):
        raise refused
    return "group", group.id


def _clean_filename(filename: str | None) -> str:
    name = os.path.basename((filename or "").replace("\\", "/"))
    name = _CONTROL.sub("", unicodedata.normalize("NFC", name)).strip()
    return name[:255] or "document"


def _default_title(filename: str) -> str:
    stem, _ = os.path.splitext(filename)
    return (stem or filename)[:200]


async def upload(
    *,
    user: User,
    source: AsyncReadable,
    filename: str | None,
    title: str | None,
    subject: str | None,
    scope: str | None,
    max_bytes: int,
) -> tuple[LibraryDocument, bool]:
    """Store the upload in GridFS while reading it (hashing and recognising it on the way)
    and record the document `queued`. Returns (document, created): the same bytes again from
    the same owner answer the existing document, also when two uploads race (unique index
    on owner and hash)."""
    assert user.id is not None
    kind, group_id = await _resolve_scope(user, scope)
    name = _clean_filename(filename)
    writer = files.open_writer(filename=name, owner_id=user.id)
    digest = hashlib.sha256()
    sniffer = TextSniffer()
    head = b""
    size = 0
    try:
        while piece := await source.read(_READ_BYTES):
            size += len(piece)
            if size > max_bytes:
                raise PayloadTooLarge(
                    f"The document is larger than {max_bytes} bytes.",
                    code="payload_too_large",
                    details={"max_bytes": max_bytes},
                )
            if len(head) < 8:
                head += piece[: 8 - len(head)]
            digest.update(piece)
            sniffer.feed(piece)
            if not head.startswith(b"%PDF-") and len(head) >= 5 and not sniffer.is_text:
                raise _unsupported()  # stop reading a binary file at once
            await writer.write(piece)
        sniffer.feed(b"", final=True)
        content_type = content_type_of(head, sniffer, name)
        if content_type is None:
            raise _unsupported()
        if size == 0:
            raise ValidationFailed("The file is empty.", code="empty_document")
        await writer.close()
    except BaseException:
        await writer.abort()
        raise
    file_id = PydanticObjectId(writer._id)
    sha256 = digest.hexdigest()
    existing = await LibraryDocument.find_one({"owner_id": user.id, "sha256": sha256})
    if existing is not None:
        await files.delete(file_id=file_id)
        return existing, False
    document = LibraryDocument(
        owner_id=user.id,
        org_id=user.org_id,
        scope=kind,
        group_id=group_id,
        title=(title or "").strip()[:200] or _default_title(name),
        subject=(subject or "").strip()[:100] or None,
        filename=name,
        content_type=content_type,
        size_bytes=size,
        sha256=sha256,
        file_id=file_id,
    )
    try:
        await document.insert()
    except DuplicateKeyError:
        await files.delete(file_id=file_id)
        raced = await LibraryDocument.find_one({"owner_id": user.id, "sha256": sha256})
        if raced is None:  # deleted in between: the caller may simply upload again
            raise
        return raced, False
    return document, True


async def list_readable(
    *, user: User, limit: int, cursor: str | None
) -> tuple[list[LibraryDocument], str | None]:
    query = await readable_scope_filter(user)
    return await newest_first(LibraryDocument, query, "created_at", limit=limit, cursor=cursor)


async def get_readable(*, user: User, document_id: str) -> LibraryDocument:
    """A document the caller may read; anything else (another learner's, a malformed id) is
    404, never 403: its existence is not confirmed."""
    query = await readable_scope_filter(user)
    query = {"$and": [{"_id": object_id(document_id, _not_found)}, query]}
    document = await LibraryDocument.find_one(query)
    if document is None:
        raise _not_found()
    return document


async def document_passages(*, user: User, document_id: str, limit: int) -> list[Passage]:
    """A document's passages in reading order (index `document_order`), for a caller who may
    read it (anything else is 404, as `get_readable`): what question generation from one
    document works on. A document that is not ready has none yet."""
    document = await get_readable(user=user, document_id=document_id)
    if document.status != "ready":
        return []
    cursor = (
        DocumentChunk.get_pymongo_collection()
        .find({"document_id": document.id}, projection={"page": 1, "text": 1})
        .sort("position", 1)
        .limit(limit)
    )
    return [
        Passage(
            document_id=str(document.id),
            title=document.title,
            page=int(raw["page"]),
            text=raw["text"],
            score=0.0,
        )
        async for raw in cursor
    ]


async def open_file(
    *, user: User, document_id: str
) -> tuple[LibraryDocument, AsyncIterator[bytes]]:
    document = await get_readable(user=user, document_id=document_id)
    return document, files.iterate(file_id=document.file_id)


async def delete(*, user: User, document_id: str) -> None:
    """The owner, or an admin of the document's organization. The document goes first (from
    then on nothing finds it), then its chunks and its file; a processing job that finishes
    after this finds its document gone and removes the chunks it wrote."""
    document = await get_deletable(user=user, document_id=document_id)
    await LibraryDocument.get_pymongo_collection().delete_one({"_id": document.id})
    await documents_changed()
    await delete_contents(document=document)


async def get_deletable(*, user: User, document_id: str) -> LibraryDocument:
    """The owner's document, or any of an admin's organization; a document the caller may
    read but not delete (shared with them) is 403, any other 404."""
    query: dict[str, Any] = {"_id": object_id(document_id, _not_found)}
    if user.role == "admin":
        query["$or"] = [{"owner_id": user.id}, {"org_id": user.org_id}]
    else:
        query["owner_id"] = user.id
    document = await LibraryDocument.find_one(query)
    if document is None:
        await get_readable(user=user, document_id=document_id)  # 404 unless readable
        raise Forbidden("Only the owner or an admin deletes a document.", code="forbidden")
    return document


async def delete_contents(*, document: LibraryDocument) -> int:
    """A document's chunks and its file (idempotent); the number of chunks removed."""
    gone = await DocumentChunk.get_pymongo_collection().delete_many({"document_id": document.id})
    await files.delete(file_id=document.file_id)
    return int(gone.deleted_count)


def _scope_branch(scope: str) -> dict[str, Any]:
    """One upload scope (`personal`, `org`, `group:<id>`) as a filter on the scope fields."""
    if scope in ("personal", "org"):
        return {"scope": scope}
    match = _GROUP_SCOPE.match(scope)
    if match is None:
        raise ValueError(f"not a document scope: {scope!r}")
    return {"scope": "group", "group_id": PydanticObjectId(match.group(1))}


async def search(
    *,
    user: User,
    query: str,
    limit: int,
    scopes: Sequence[str] | None = None,
    topics: Sequence[str] | None = None,
) -> list[Passage]:
    """The passages best matching `query` among the ready documents `user` may read, best
    first. The one search entry point: `GET /documents/search`, chat grounding, quizzes.

    Both options only narrow what the caller may read, never widen it. `scopes`: only
    documents of these scopes (`personal`, `org`, `group:<id>`): a group conversation is
    grounded in what every member may read, never in anyone's personal notes. `topics`:
    only chunks tagged with one of these syllabus topic ids (weak topics, a quiz question's
    topic)."""
    text = query.strip()
    if not text or (scopes is not None and not scopes) or (topics is not None and not topics):
        return []
    readable = await readable_scope_filter(user)
    if scopes is not None:
        readable = {"$and": [readable, {"$or": [_scope_branch(s) for s in scopes]}]}
    # The ready documents' ids and `updated_at` are also the version a cached index must
    # match (server/library/cache.py); their list is cached until any document's status
    # changes on any instance (`documents_changed`), so a document deleted or newly ready
    # anywhere is reflected by the next search.
    titles, stamps = await _ready_documents(readable)
    if not titles:
        return []
    return await ranking.rank(
        chunks=DocumentChunk.get_pymongo_collection(),
        readable={"$and": [readable, {"document_id": {"$in": list(titles)}}]},
        titles=titles,
        query=text,
        limit=limit,
        topics=topics,
        cache_scope=readable,
        version=library_version(stamps),
    )
