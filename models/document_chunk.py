from __future__ import annotations

from beanie import Document, PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, IndexModel

from models.library_document import ScopeKind
from models.message import TopicRef


class DocumentChunk(Document):
    """A passage of a library document, with its embedding. The scope fields are copied from
    the document so a search filters chunks by who may read them without a join; a change of
    a document's scope would rewrite them (the API has none)."""

    document_id: PydanticObjectId
    owner_id: PydanticObjectId
    scope: ScopeKind
    org_id: PydanticObjectId
    group_id: PydanticObjectId | None = None
    # From 1: the PDF page; for text files, the chunk's position.
    page: int
    # The chunk's order within its document, from 0.
    position: int
    text: str
    embedding: list[float] = Field(default_factory=list)
    topics: list[TopicRef] = Field(default_factory=list)

    class Settings:
        name = "document_chunks"
        indexes = [
            # Deleting a document's chunks, and a document's chunks in order (export).
            IndexModel(
                [("document_id", ASCENDING), ("position", ASCENDING)], name="document_order"
            ),
            # The readable filter's three branches: the owner's, the organization's, a group's.
            IndexModel([("owner_id", ASCENDING)], name="owner"),
            IndexModel([("org_id", ASCENDING), ("scope", ASCENDING)], name="org_scope"),
            IndexModel([("group_id", ASCENDING)], name="group", sparse=True),
        ]
