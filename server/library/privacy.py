"""Export and erasure of a user's library documents, their chunks and files (docs/PRIVACY.md).

Documents a user shared with a group or the organization are theirs too: erasure deletes
them (the contract: "erasure deletes them"), their readers lose them with the account.
"""

from __future__ import annotations

from typing import Any

from models import DocumentChunk, LibraryDocument
from server.library import files
from server.library import service as library_service
from server.library.schemas import DocumentPublic
from server.privacy.registry import (
    ErasureContext,
    ExportContext,
    PrivacyRegistry,
    collection_name,
)


async def _export(ctx: ExportContext) -> list[dict[str, Any]]:
    """Metadata and text of each of the user's documents (the text as chunked, in order;
    neighbouring chunks overlap by a few sentences). The original files stay downloadable
    through `GET /documents/{id}/file` until the account is erased."""
    views: list[dict[str, Any]] = []
    chunks = DocumentChunk.get_pymongo_collection()
    async for raw in (
        LibraryDocument.get_pymongo_collection()
        .find({"owner_id": ctx.user_id})
        .sort("created_at", 1)
    ):
        document = LibraryDocument.model_validate(raw)
        view = DocumentPublic.from_doc(document).model_dump(mode="json")
        view["text"] = [
            {"page": c["page"], "text": c["text"]}
            async for c in chunks.find({"document_id": document.id}, {"page": 1, "text": 1}).sort(
                "position", 1
            )
        ]
        views.append(view)
    ctx.counts["documents"] = len(views)
    return views


async def _erase(ctx: ErasureContext) -> None:
    """Documents first (nothing finds them any more), then chunks and files by owner, which
    also catches a file whose document was never written. Runs again after the account is
    gone: a processing job finishing late removes its own chunks (its document is gone)."""
    gone = await LibraryDocument.get_pymongo_collection().delete_many({"owner_id": ctx.user_id})
    await library_service.documents_changed()
    ctx.report.add("deleted", collection_name(LibraryDocument), gone.deleted_count)
    chunks = await DocumentChunk.get_pymongo_collection().delete_many({"owner_id": ctx.user_id})
    ctx.report.add("deleted", collection_name(DocumentChunk), chunks.deleted_count)
    removed = await files.delete_owned(owner_id=ctx.user_id)
    ctx.report.add("deleted", f"{files.BUCKET}.files", removed)


def register_privacy_steps(registry: PrivacyRegistry) -> None:
    registry.register_export("documents", _export, collections=(LibraryDocument, DocumentChunk))
    registry.register_erase(
        "library.delete",
        _erase,
        phase="per_user",
        collections=(LibraryDocument, DocumentChunk),
        again=True,
    )
