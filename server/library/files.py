"""The original bytes of library documents, in the GridFS bucket `document_files`.

GridFS is MongoDB's own file store (two collections, `document_files.files` and
`document_files.chunks`): it works on the embedded database, a replica set, a sharded cluster
and Atlas alike, so the library needs no second storage server. Each file's metadata names its
owner, so an erasure also finds a file whose document was never written (a crash in between).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from beanie import PydanticObjectId
from gridfs import AsyncGridFSBucket, AsyncGridIn
from gridfs.errors import NoFile

from models import LibraryDocument

BUCKET = "document_files"
_READ_BYTES = 256 * 1024


def _bucket() -> AsyncGridFSBucket:
    # The database Beanie was initialised with: the one the documents live in.
    database: Any = LibraryDocument.get_pymongo_collection().database
    return AsyncGridFSBucket(database, bucket_name=BUCKET)


def open_writer(*, filename: str, owner_id: PydanticObjectId) -> AsyncGridIn:
    """A new file written piece by piece as the upload is read; `abort()` drops what was
    written (a file too large or of a format we do not take)."""
    return _bucket().open_upload_stream(filename, metadata={"owner_id": owner_id})


async def read_all(*, file_id: PydanticObjectId) -> bytes:
    """The whole file (at most DOCUMENT_MAX_BYTES): what processing parses."""
    stream = await _bucket().open_download_stream(file_id)
    data: bytes = await stream.read()
    return data


async def iterate(*, file_id: PydanticObjectId) -> AsyncIterator[bytes]:
    """The file in pieces, for a download that never holds it whole in memory."""
    stream = await _bucket().open_download_stream(file_id)
    try:
        while piece := await stream.read(_READ_BYTES):
            yield piece
    finally:
        await stream.close()


async def exists(*, file_id: PydanticObjectId) -> bool:
    return await _bucket().find({"_id": file_id}).limit(1).to_list() != []


async def delete(*, file_id: PydanticObjectId) -> bool:
    """Idempotent: a file already gone is not an error (a retried delete, an erasure)."""
    try:
        await _bucket().delete(file_id)
    except NoFile:
        return False
    return True


async def delete_owned(*, owner_id: PydanticObjectId) -> int:
    """Every file of one owner, including one whose document was never written."""
    bucket = _bucket()
    count = 0
    async for grid_out in bucket.find({"metadata.owner_id": owner_id}):
        try:
            await bucket.delete(grid_out._id)
        except NoFile:
            continue
        count += 1
    return count
