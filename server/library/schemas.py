"""The study library's API shapes (docs/LIBRARY.md)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from models import LibraryDocument
from models.library_document import DocumentStatus


def scope_label(document: LibraryDocument) -> str:
    """The API's spelling of a scope: `personal`, `group:<id>` or `org`."""
    if document.scope == "group":
        return f"group:{document.group_id}"
    return document.scope


class DocumentProgress(BaseModel):
    done: int
    total: int


class DocumentErrorPublic(BaseModel):
    code: str
    message: str


class DocumentPublic(BaseModel):
    id: str
    title: str
    subject: str | None
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    scope: str
    owner_id: str
    status: DocumentStatus
    progress: DocumentProgress
    pages: int
    chunks: int
    error: DocumentErrorPublic | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_doc(cls, document: LibraryDocument) -> DocumentPublic:
        return cls(
            id=str(document.id),
            title=document.title,
            subject=document.subject,
            filename=document.filename,
            content_type=document.content_type,
            size_bytes=document.size_bytes,
            sha256=document.sha256,
            scope=scope_label(document),
            owner_id=str(document.owner_id),
            status=document.status,
            progress=DocumentProgress(done=document.progress.done, total=document.progress.total),
            pages=document.pages,
            chunks=document.chunks,
            error=(
                DocumentErrorPublic(code=document.error.code, message=document.error.message)
                if document.error
                else None
            ),
            created_at=document.created_at,
            updated_at=document.updated_at,
        )


class DocumentPage(BaseModel):
    items: list[DocumentPublic]
    next_cursor: str | None


class SearchHit(BaseModel):
    document_id: str
    title: str
    page: int
    text: str
    score: float


class SearchResults(BaseModel):
    items: list[SearchHit]
