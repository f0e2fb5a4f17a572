"""The chat's part of erasure (docs/PRIVACY.md): replies in flight stop, send limits go.

The chat owns no collection (messages are the conversations feature's): it stops the work it
runs for the user, on this instance or another, and clears its rate-limit counters."""

from __future__ import annotations

import asyncio
from typing import Any

from server.chat.limits import SendLimiter
from server.conversations import privacy as conversations_privacy
from server.errors import AppError
from server.privacy.registry import ErasureContext, PrivacyRegistry


async def _abort_replies(ctx: ErasureContext) -> None:
    """Aborts the user's replies still streaming, here or on another instance, and waits
    for them to settle, so their generators do not write after the deletes."""
    streaming = await conversations_privacy.streaming_messages(ctx=ctx)

    async def abort(message_id: Any) -> None:
        try:
            await ctx.state.chat.abort_reply(user=ctx.user, message_id=str(message_id))
        except AppError:  # ended or gone meanwhile: nothing left to stop
            pass

    await asyncio.gather(*(abort(m) for m in streaming))


async def _stop_conversations(ctx: ErasureContext) -> None:
    """Anything that slipped into a private conversation since: stopped, not paid for."""
    scope = await ctx.facts.get(conversations_privacy.SCOPE)
    for conversation_id in scope.private:
        ctx.state.chat.stop_conversation(str(conversation_id))


async def _clear_send_limits(ctx: ErasureContext) -> None:
    """The counters (memory or Redis): exact keys, through the library that made them."""
    settings = ctx.state.settings
    limiter = SendLimiter(storage=ctx.state.limits_storage, rate=settings.chat_rate_limit)
    await limiter.clear(str(ctx.user_id))


def register_privacy_steps(registry: PrivacyRegistry) -> None:
    registry.register_erase(
        "chat.abort_replies", _abort_replies, phase="stop", after=("conversations.scope",)
    )
    registry.register_erase(
        "chat.stop_conversations",
        _stop_conversations,
        phase="content",
        after=("conversations.delete",),
    )
    registry.register_erase("chat.send_limits", _clear_send_limits, phase="redis")
