"""Processing a library document: text page by page, chunks, embeddings, stored chunks.

Runs as the background job `library.process` (server/jobs) with payload `{document_id,
owner_id}`; without the job facility, in a task of this process. Every step is safe to run
again: a job retried after a crash (or re-enqueued at start-up) starts over from the file.

Invariants: only a `queued` or `processing` document is processed (compare-and-set on the
status); a document's chunks are replaced as a whole (its old ones are removed first); a
document deleted while it was processed loses the chunks the job wrote (the final
compare-and-set finds nothing and cleans up).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from beanie import PydanticObjectId
from gridfs.errors import NoFile
from pymongo import ReturnDocument

from models import DocumentChunk, LibraryDocument
from models.common import utcnow
from models.message import TopicRef
from server.events import DocumentProgressPayload, DocumentStatusChanged
from server.jobs import JobContext, JobQueue
from server.library import files, ranking
from server.library import service as library_service
from server.library.formats import TextChunk, UnreadableDocument, chunk_pages, extract_pages
from server.memory.taxonomy import load_taxonomy

if TYPE_CHECKING:
    from server.state import AppState

log = logging.getLogger("starguide.library")

JOB_NAME = "library.process"
_EMBED_BATCH = 64
_TOPICS_PER_CHUNK = 2

Progress = Callable[[int, int], Awaitable[None]]


def job_key(document_id: PydanticObjectId | str) -> str:
    return f"{JOB_NAME}:{document_id}"


async def _notify(state: AppState, document: LibraryDocument) -> None:
    event = DocumentStatusChanged(
        id=str(document.id),
        status=document.status,
        progress=DocumentProgressPayload(
            done=document.progress.done, total=document.progress.total
        ),
    )
    try:
        await state.notifier.to_user(str(document.owner_id), event)
    except Exception:  # a socket fan-out hiccup must not fail the processing
        log.warning("document:status not delivered", exc_info=True)


async def _update(filter_: dict[str, Any], changes: dict[str, Any]) -> LibraryDocument | None:
    raw = await LibraryDocument.get_pymongo_collection().find_one_and_update(
        filter_,
        {"$set": {**changes, "updated_at": utcnow()}},
        return_document=ReturnDocument.AFTER,
    )
    if "status" in changes:  # searches cache which documents are ready
        await library_service.documents_changed()
    return None if raw is None else LibraryDocument.model_validate(raw)


def _tag(texts: list[str]) -> list[list[TopicRef]]:
    """Each chunk's syllabus topics (phrases and meaning, as for learner messages), so weak
    topics can pull passages from the learner's own notes."""
    taxonomy = load_taxonomy()
    return [
        [
            TopicRef(id=m.topic.id, name=m.topic.name, subject=m.topic.subject)
            for m in taxonomy.tag(text, limit=_TOPICS_PER_CHUNK)
        ]
        for text in texts
    ]


async def process_document(
    state: AppState, document_id: PydanticObjectId | str, progress: Progress | None = None
) -> dict[str, Any] | None:
    """Process one document; returns a small result for the job record (counts, never text)."""
    doc_id = PydanticObjectId(document_id)
    document = await _update(
        {"_id": doc_id, "status": {"$in": ["queued", "processing"]}},
        {"status": "processing", "progress": {"done": 0, "total": 0}, "error": None},
    )
    if document is None:
        return None  # deleted, or already ready or failed: nothing to do
    await _notify(state, document)
    try:
        pages, chunks = await _extract(document, state.settings.document_chunk_chars)
    except UnreadableDocument as exc:
        failed = await _update(
            {"_id": doc_id, "status": "processing"},
            {"status": "failed", "error": {"code": exc.code, "message": exc.message}},
        )
        if failed is not None:
            await _notify(state, failed)
        return {"status": "failed", "error": exc.code}
    await _store_chunks(state, document, chunks, progress)
    ready = await _update(
        {"_id": doc_id, "status": "processing"},
        {
            "status": "ready",
            "pages": pages,
            "chunks": len(chunks),
            "progress": {"done": len(chunks), "total": len(chunks)},
        },
    )
    if ready is None:  # deleted while we worked: what we wrote goes too
        await DocumentChunk.get_pymongo_collection().delete_many({"document_id": doc_id})
        return None
    await _notify(state, ready)
    return {"status": "ready", "pages": pages, "chunks": len(chunks)}


async def _extract(document: LibraryDocument, size: int) -> tuple[int, list[TextChunk]]:
    """(pages, chunks) of the stored file; UnreadableDocument when there is nothing to read."""
    try:
        data = await files.read_all(file_id=document.file_id)
    except NoFile as exc:
        raise UnreadableDocument("file_missing", "The document's file is missing.") from exc
    pages = await asyncio.to_thread(extract_pages, data, document.content_type)
    paged = document.content_type == "application/pdf"
    chunks = chunk_pages(pages, paged=paged, size=size, overlap=max(50, size // 7))
    if not chunks:
        raise UnreadableDocument(
            "no_text", "No text was found in the document (a scanned PDF needs OCR first)."
        )
    return len(pages), chunks


async def _store_chunks(
    state: AppState,
    document: LibraryDocument,
    chunks: list[TextChunk],
    progress: Progress | None,
) -> None:
    """Replaces the document's chunks, embedding and tagging them batch by batch and
    reporting progress after each; stops early when the document was deleted meanwhile."""
    collection = DocumentChunk.get_pymongo_collection()
    await collection.delete_many({"document_id": document.id})  # a retry starts clean
    total = len(chunks)
    for start in range(0, total, _EMBED_BATCH):
        batch = chunks[start : start + _EMBED_BATCH]
        vectors = await ranking.embed([c.text for c in batch])
        topics = await asyncio.to_thread(_tag, [c.text for c in batch])
        await collection.insert_many(
            [
                DocumentChunk(
                    document_id=document.id,
                    owner_id=document.owner_id,
                    scope=document.scope,
                    org_id=document.org_id,
                    group_id=document.group_id,
                    page=c.page,
                    position=c.position,
                    text=c.text,
                    embedding=vector,
                    topics=tags,
                ).model_dump(exclude={"id", "revision_id"})
                for c, vector, tags in zip(batch, vectors, topics, strict=True)
            ]
        )
        done = start + len(batch)
        advanced = await _update(
            {"_id": document.id, "status": "processing"},
            {"progress": {"done": done, "total": total}},
        )
        if advanced is None:
            return  # deleted meanwhile: the caller's final compare-and-set cleans up
        if progress is not None:
            await progress(done, total)
        await _notify(state, advanced)


async def _handle(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any] | None:
    """The `library.process` job handler."""
    return await process_document(ctx.state, payload["document_id"], progress=ctx.progress)


def register_jobs(queue: JobQueue) -> None:
    queue.register(JOB_NAME, _handle)


# ---- scheduling ---------------------------------------------------------------------------------
async def schedule(state: AppState, document: LibraryDocument) -> None:
    """Enqueue the document's processing (durable with Redis, in this process without); the
    key makes a repeated enqueue (a re-upload race, the start-up resume) the same job."""
    await state.jobs.enqueue(
        JOB_NAME,
        {"document_id": str(document.id), "owner_id": str(document.owner_id)},
        key=job_key(str(document.id)),
    )


async def resume_interrupted(state: AppState) -> int:
    """At start-up: documents left `queued` or `processing` by a stopped instance are queued
    again (a job still known to the queue is not duplicated: same key)."""
    count = 0
    async for raw in LibraryDocument.get_pymongo_collection().find(
        {"status": {"$in": ["queued", "processing"]}}
    ):
        await schedule(state, LibraryDocument.model_validate(raw))
        count += 1
    return count
