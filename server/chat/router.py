"""REST for chat: send (JSON or SSE), regenerate and abort. Thin: the logic is the service's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Response, status
from fastapi.responses import JSONResponse

from server.chat.schemas import ExchangePublic, ProviderName, SendMessage
from server.chat.service import Exchange
from server.chat.sse import sse_response, wants_event_stream
from server.conversations.schemas import MessagePublic
from server.deps import CurrentUser, State
from server.schemas import RequestModel, error_responses

router = APIRouter(prefix="/conversations", tags=["chat"])

_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": (
            "With `Accept: text/event-stream`: an SSE stream of `assistant:start`, "
            "`assistant:token` (seq from 1, no gaps), then `assistant:end` or "
            "`assistant:error`, with `: ping` comments every 15 s while idle."
        ),
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    201: {"description": "Without it: the stored exchange once the reply has ended."},
    **error_responses(
        {
            404: "`conversation_not_found` or `message_not_found`.",
            422: "`provider_not_allowed`: that provider is not enabled on this server "
            "or not allowed by the organization.",
            429: "`rate_limited` (the send rate) or `ai_budget_exceeded` (the daily AI budget; "
            "`Retry-After` is the learner's local midnight).",
        }
    ),
}


class RegenerateBody(RequestModel):
    provider: ProviderName | None = None


async def _answer(state: State, exchange: Exchange, accept: str | None) -> Response:
    if wants_event_stream(accept):
        return sse_response(
            state.chat.watch(exchange, idle_s=state.settings.sse_heartbeat_seconds),
            reply=exchange.assistant_message,
        )
    final = await state.chat.wait_final(exchange)
    body = ExchangePublic(
        user_message=MessagePublic.from_doc(final.user_message),
        assistant_message=MessagePublic.from_doc(final.assistant_message),
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=status.HTTP_201_CREATED)


@router.post(
    "/{conversation_id}/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=ExchangePublic,
    responses=_STREAM_DOC
    | error_responses({400: "`send_failed`: the earlier send of this client_message_id failed."}),
)
async def send_message(
    conversation_id: str,
    body: SendMessage,
    user: CurrentUser,
    state: State,
    accept: str | None = Header(default=None),
) -> Response:
    exchange = await state.chat.send(user=user, conversation_id=conversation_id, body=body)
    return await _answer(state, exchange, accept)


@router.post(
    "/{conversation_id}/messages/{message_id}/regenerate",
    status_code=status.HTTP_201_CREATED,
    response_model=ExchangePublic,
    responses=_STREAM_DOC
    | error_responses({409: "`generation_in_progress`: abort the running reply first."}),
)
async def regenerate_message(
    conversation_id: str,
    message_id: str,
    user: CurrentUser,
    state: State,
    body: RegenerateBody | None = None,
    accept: str | None = Header(default=None),
) -> Response:
    exchange = await state.chat.regenerate(
        user=user,
        conversation_id=conversation_id,
        message_id=message_id,
        provider=body.provider if body else None,
    )
    return await _answer(state, exchange, accept)


@router.post(
    "/{conversation_id}/messages/{message_id}/abort",
    responses=error_responses(
        {
            404: "`conversation_not_found` or `message_not_found`.",
            409: "`not_abortable`: only an assistant reply can be aborted.",
        }
    ),
)
async def abort_message(
    conversation_id: str, message_id: str, user: CurrentUser, state: State
) -> MessagePublic:
    message = await state.chat.abort(
        user=user, conversation_id=conversation_id, message_id=message_id
    )
    return MessagePublic.from_doc(message)
