from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from server.conversations import service
from server.conversations.schemas import (
    ConversationCreate,
    ConversationPage,
    ConversationPublic,
    ConversationUpdate,
    MessagePage,
    MessagePublic,
)
from server.deps import CurrentUser, State
from server.schemas import PAGED, error_responses

router = APIRouter(prefix="/conversations", tags=["conversations"])
Cursor = Annotated[str | None, Query(max_length=512)]
_NOT_FOUND = error_responses({404: "`conversation_not_found`."})


@router.get("", responses=PAGED)
async def list_conversations(
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Cursor = None,
    archived: bool | None = None,
) -> ConversationPage:
    docs, next_cursor = await service.list_page(
        user=user, limit=limit, cursor=cursor, archived=archived
    )
    return ConversationPage(
        items=[ConversationPublic.from_doc(d) for d in docs], next_cursor=next_cursor
    )


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_conversation(body: ConversationCreate, user: CurrentUser) -> ConversationPublic:
    return ConversationPublic.from_doc(await service.create(user=user, body=body))


@router.get("/{conversation_id}", responses=_NOT_FOUND)
async def get_conversation(conversation_id: str, user: CurrentUser) -> ConversationPublic:
    doc = await service.get_accessible(user=user, conversation_id=conversation_id)
    return ConversationPublic.from_doc(doc)


@router.patch("/{conversation_id}", responses=_NOT_FOUND)
async def patch_conversation(
    conversation_id: str, body: ConversationUpdate, user: CurrentUser
) -> ConversationPublic:
    doc = await service.update(user=user, conversation_id=conversation_id, body=body)
    return ConversationPublic.from_doc(doc)


@router.delete("/{conversation_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_NOT_FOUND)
async def delete_conversation(conversation_id: str, user: CurrentUser, state: State) -> Response:
    await service.delete(user=user, conversation_id=conversation_id, cluster=state.cluster)
    state.chat.stop_conversation(conversation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{conversation_id}/messages",
    responses=_NOT_FOUND
    | error_responses(
        {
            422: "`invalid_cursor`: a cursor no page handed out; `conflicting_cursors`: "
            "`cursor` and `before` differ."
        }
    ),
)
async def list_messages(
    conversation_id: str,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    before: Cursor = None,
    cursor: Cursor = None,
) -> MessagePage:
    docs, next_cursor = await service.list_messages(
        user=user, conversation_id=conversation_id, limit=limit, cursor=cursor, before=before
    )
    return MessagePage(items=[MessagePublic.from_doc(d) for d in docs], next_cursor=next_cursor)
