"""Study library routes (docs/LIBRARY.md); thin, the rules are in the service."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status
from fastapi.responses import StreamingResponse

from server.deps import CurrentUser, State
from server.library import processing, service
from server.library.schemas import DocumentPage, DocumentPublic, SearchHit, SearchResults
from server.schemas import PAGED, error_responses

router = APIRouter(prefix="/documents", tags=["study library"])
_NOT_FOUND = error_responses({404: "`document_not_found`."})


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Upload a study document (PDF, text, Markdown); it is processed in the background",
    responses={
        200: {"model": DocumentPublic, "description": "The same file was uploaded before."},
        **error_responses(
            {
                403: "`scope_forbidden`: you may not share with this group or organization.",
                413: "`payload_too_large`: the file is larger than DOCUMENT_MAX_BYTES.",
                415: "`unsupported_media_type`: not a PDF, plain text or Markdown file.",
                422: "`invalid_scope`, `empty_document`.",
            }
        ),
    },
)
async def upload_document(
    user: CurrentUser,
    state: State,
    response: Response,
    file: Annotated[UploadFile, File(description="The document: PDF, text or Markdown.")],
    title: Annotated[str | None, Form(max_length=200)] = None,
    subject: Annotated[str | None, Form(max_length=100)] = None,
    scope: Annotated[
        str | None,
        Form(max_length=64, description="`personal` (default), `group:<group_id>` or `org`."),
    ] = None,
) -> DocumentPublic:
    document, created = await service.upload(
        user=user,
        source=file,
        filename=file.filename,
        title=title,
        subject=subject,
        scope=scope,
        max_bytes=state.settings.document_max_bytes,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    if created or document.status == "queued":
        # Also for a duplicate still queued: an enqueue that failed the first time (Redis
        # down) is repaired by uploading again; the job key makes it one job either way.
        await processing.schedule(state, document)
    return DocumentPublic.from_doc(document)


@router.get("", summary="The documents you may read, newest first", responses=PAGED)
async def list_documents(
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> DocumentPage:
    documents, next_cursor = await service.list_readable(user=user, limit=limit, cursor=cursor)
    return DocumentPage(
        items=[DocumentPublic.from_doc(d) for d in documents], next_cursor=next_cursor
    )


@router.get(
    "/search",
    summary="The passages of your readable documents that best match `q`, best first",
)
async def search_documents(
    user: CurrentUser,
    q: Annotated[str, Query(min_length=1, max_length=500)],
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> SearchResults:
    passages = await service.search(user=user, query=q, limit=limit)
    return SearchResults(
        items=[
            SearchHit(
                document_id=p.document_id, title=p.title, page=p.page, text=p.text, score=p.score
            )
            for p in passages
        ]
    )


@router.get("/{document_id}", summary="One document you may read", responses=_NOT_FOUND)
async def get_document(document_id: str, user: CurrentUser) -> DocumentPublic:
    return DocumentPublic.from_doc(await service.get_readable(user=user, document_id=document_id))


@router.get(
    "/{document_id}/file",
    summary="The document's original bytes",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "application/pdf": {},
                "text/plain": {},
                "text/markdown": {},
            },
            "description": "The file as uploaded.",
        },
        **_NOT_FOUND,
    },
)
async def download_document(document_id: str, user: CurrentUser) -> StreamingResponse:
    document, body = await service.open_file(user=user, document_id=document_id)
    media_type = document.content_type
    if media_type.startswith("text/"):
        media_type += "; charset=utf-8"
    return StreamingResponse(
        body,
        media_type=media_type,
        headers={
            "Content-Length": str(document.size_bytes),
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(document.filename)}",
            # Served as what it was recognised as, never sniffed into something else (HTML).
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.delete(
    "/{document_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a document with its file and chunks (its owner, or an admin)",
    responses=error_responses(
        {
            403: "`forbidden`: only the owner or an admin of its organization.",
            404: "`document_not_found`.",
        }
    ),
)
async def delete_document(document_id: str, user: CurrentUser) -> Response:
    await service.delete(user=user, document_id=document_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
