from __future__ import annotations

from datetime import datetime
from typing import Literal

from beanie import Document, PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from models.common import utcnow

DocumentStatus = Literal["queued", "processing", "ready", "failed"]
# Who may read a document: its owner alone, the members of one study group, or everyone in
# the owner's organization. The API spells these "personal", "group:<id>" and "org".
ScopeKind = Literal["personal", "group", "org"]


class DocumentProgress(BaseModel):
    done: int = 0
    total: int = 0


class DocumentError(BaseModel):
    code: str
    message: str


class LibraryDocument(Document):
    """A learner's or mentor's study document (PDF, text, Markdown). The bytes live in the
    GridFS bucket `document_files` (`file_id`); the text, cut into chunks, in
    `document_chunks`."""

    owner_id: PydanticObjectId
    org_id: PydanticObjectId
    scope: ScopeKind = "personal"
    group_id: PydanticObjectId | None = None
    title: str
    subject: str | None = None
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    file_id: PydanticObjectId
    status: DocumentStatus = "queued"
    progress: DocumentProgress = Field(default_factory=DocumentProgress)
    pages: int = 0
    chunks: int = 0
    error: DocumentError | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "documents"
        indexes = [
            # Dedupe: the same bytes uploaded twice by one owner are one document, even when
            # the two uploads race (the second insert fails and answers the first).
            IndexModel(
                [("owner_id", ASCENDING), ("sha256", ASCENDING)], unique=True, name="owner_sha"
            ),
            # "What I may read, newest first": the owner's branch of the readable filter.
            IndexModel(
                [("owner_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
                name="owner_recent",
            ),
            # The organization's and the groups' branches of the readable filter.
            IndexModel(
                [("org_id", ASCENDING), ("scope", ASCENDING), ("created_at", DESCENDING)],
                name="org_scope_recent",
            ),
            IndexModel(
                [("group_id", ASCENDING), ("created_at", DESCENDING)],
                name="group_recent",
                sparse=True,
            ),
            # Start-up finds the documents whose processing was interrupted.
            IndexModel([("status", ASCENDING)], name="status"),
        ]
