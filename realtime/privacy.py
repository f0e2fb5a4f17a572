"""The socket gateway's Redis keys in erasure (docs/PRIVACY.md): replay streams of the user's
replies, their presence entries, their socket slots.

Registered by the app factory (`server.app.PRIVACY_STEPS`) like every feature's steps, so
that `server/privacy` never imports the gateway above it. Without Redis, replay buffers,
presence and slots live in the process's memory and expire on their own within minutes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from models.common import utcnow
from realtime.limits import RedisSlots
from realtime.presence import RedisPresence
from realtime.replay import RedisReplay
from server.conversations import privacy as conversations_privacy
from server.privacy.registry import ErasureContext, Fact, PrivacyRegistry, chunks

# A reply's replay stream lives `socket_replay_ttl_seconds` after its last event; its
# `updated_at` is written with that event, give or take this much.
REPLAY_SLACK: Final = timedelta(seconds=120)

# The user's assistant replies that may still have a replay stream.
RECENT_REPLIES: Final = Fact[list[Any]]("realtime.recent_replies")


async def _collect_replies(ctx: ErasureContext) -> None:
    """Read before the messages naming them are deleted."""
    ttl = timedelta(seconds=ctx.state.settings.socket_replay_ttl_seconds)
    since = utcnow() - ttl - REPLAY_SLACK
    replies = await conversations_privacy.recent_replies(ctx=ctx, since=since)
    ctx.facts.put(RECENT_REPLIES, replies)


async def _delete_replay_streams(ctx: ErasureContext) -> None:
    redis = ctx.state.redis
    if redis is None:
        return
    replies = await ctx.facts.get(RECENT_REPLIES)
    for chunk in chunks(replies):
        deleted = await redis.delete(*(RedisReplay.key(str(m)) for m in chunk))
        ctx.report.add("redis", "replay_streams", int(deleted))


async def _forget_presence(ctx: ErasureContext) -> None:
    """The user's entries in every conversation they were in; other people's stay."""
    redis = ctx.state.redis
    if redis is None:
        return
    scope = await ctx.facts.get(conversations_privacy.SCOPE)
    presence = RedisPresence(redis, ttl_s=ctx.state.settings.presence_ttl_seconds)
    for conversation_id in [*scope.private, *scope.shared]:
        removed = await presence.remove_user(str(conversation_id), str(ctx.user_id))
        ctx.report.add("redis", "presence_entries", removed)


async def _free_socket_slots(ctx: ErasureContext) -> None:
    """Slots a socket on a crashed instance never released (the account is disabled, so no
    new socket takes one)."""
    redis = ctx.state.redis
    if redis is None:
        return
    ctx.report.add(
        "redis", "socket_slots", int(await redis.delete(RedisSlots.key(str(ctx.user_id))))
    )


def register_privacy_steps(registry: PrivacyRegistry) -> None:
    registry.register_erase("realtime.recent_replies", _collect_replies, phase="collect")
    registry.register_erase("realtime.replay_streams", _delete_replay_streams, phase="redis")
    registry.register_erase("realtime.presence", _forget_presence, phase="redis")
    registry.register_erase("realtime.socket_slots", _free_socket_slots, phase="redis")
