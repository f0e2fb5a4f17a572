"""The one chat service behind REST and Socket.IO: store first, then generate, then learn.

Order of a send: limits (nothing stored when refused), then the learner's message and an empty
assistant reply in one ordered insert (the unique index on client_message_id makes re-sends and
races store one copy), then a generation task that does not depend on any connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from beanie import PydanticObjectId, SortDirection
from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from ai_router import (
    AIRouter,
    AIUnavailable,
    ChatRequest,
    ChatResult,
    Finish,
    RouterError,
    TextDelta,
    TextReset,
)
from ai_router.results import Attempt
from models import (
    AttemptRecord,
    Conversation,
    GenerationMeta,
    Message,
    MessageError,
    Organization,
    TopicRef,
    Usage,
    User,
)
from models.common import utcnow
from server.chat.context import build_context, make_title, recent_messages
from server.chat.generation import ChatEvent, Generation, GenerationRegistry
from server.chat.limits import DailyBudget, OrgCache, SendLimiter, seconds_to_local_midnight
from server.chat.schemas import SendMessage
from server.cluster import Cluster
from server.config import Settings
from server.conversations import service as conversations
from server.conversations.schemas import MessagePublic
from server.errors import AppError, Conflict, NotFound, RateLimited, ValidationFailed
from server.ids import object_id
from server.memory import service as memory
from server.memory.taxonomy import Taxonomy

log = logging.getLogger("starguide.chat")

_POLL_SECONDS = 0.25
_REPLY_APPEAR_SECONDS = 2.0
# How long an abort waits for the instance generating the reply to save its partial text.
_ABORT_SETTLE_SECONDS = 2.0

# Called with the stored learner message and its author (already loaded: no second read).
StoredListener = Callable[[Message, User], None]


@dataclass
class Exchange:
    """A learner message and its reply; `generation` is set while this process generates it."""

    user_message: Message
    assistant_message: Message
    generation: Generation | None = None
    # False for a re-sent client_message_id: the exchange was stored earlier.
    created: bool = True


@dataclass(frozen=True, slots=True)
class _Job:
    """Everything a generation needs; `learn`: update the learner memory afterwards (a
    regenerate does not count the same message twice)."""

    user: User
    org: Organization | None
    conversation: Conversation
    question: Message
    reply: Message
    provider: str | None
    remaining: float | None
    learn: bool


class KeyedLocks:
    """One asyncio lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class _StoppedElsewhere(Exception):
    """The stored reply left `streaming` under us: aborted through another instance."""


def _message_not_found() -> NotFound:
    return NotFound("Message not found.", code="message_not_found")


def _usage(result_usage: Any, cost: float) -> Usage:
    # The router already checks provider usage; never store a negative amount regardless.
    return Usage(
        input_tokens=max(0, result_usage.input_tokens),
        output_tokens=max(0, result_usage.output_tokens),
        cost_usd=max(0.0, round(cost, 8)),
        estimated=result_usage.estimated,
    )


def _attempt_records(attempts: tuple[Attempt, ...]) -> list[AttemptRecord]:
    return [
        AttemptRecord(
            provider=a.provider,
            model=a.model,
            outcome=a.outcome,
            error_code=a.error_code,
            duration_ms=round(a.duration_s * 1000),
        )
        for a in attempts
    ]


def usage_payload(message: Message) -> dict[str, Any]:
    usage = message.usage or Usage()
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cost_usd": usage.cost_usd,
        "estimated": usage.estimated,
    }


def end_event(message: Message) -> ChatEvent:
    return ChatEvent(
        "assistant:end",
        {
            "message_id": str(message.id),
            "conversation_id": str(message.conversation_id),
            "content": message.content,
            "usage": usage_payload(message),
            "provider": message.provider,
            "model": message.model,
            "status": message.status,
            # `length`: cut at the reply length limit (see docs/CHAT.md); None unless complete.
            "finish_reason": message.meta.finish_reason if message.meta else None,
        },
    )


def reset_event(message_id: str, conversation_id: str, seq: int, event: TextReset) -> ChatEvent:
    """The router withdrew the text streamed so far (a failover restarted the answer):
    clients drop the deltas of every token up to `seq`; the tokens after it are the reply."""
    return ChatEvent(
        "assistant:reset",
        {
            "message_id": message_id,
            "conversation_id": conversation_id,
            "seq": seq,
            "provider": event.provider,
            "model": event.model,
        },
    )


def error_event(message: Message) -> ChatEvent:
    error = message.error or MessageError(code="ai_unavailable", message="The reply failed.")
    return ChatEvent(
        "assistant:error",
        {
            "message_id": str(message.id),
            "conversation_id": str(message.conversation_id),
            "code": error.code,
            "message": error.message,
        },
    )


class ChatService:
    def __init__(
        self,
        *,
        settings: Settings,
        router: AIRouter,
        limiter: SendLimiter,
        taxonomy: Taxonomy,
        cluster: Cluster,
    ) -> None:
        self._settings = settings
        self._cluster = cluster
        cluster.on("abort", self._on_abort)
        self._stored_listeners: list[StoredListener] = []
        self._router = router
        self._limiter = limiter
        self._budget = DailyBudget(default_usd=settings.ai_daily_budget_usd)
        self._orgs = OrgCache()
        self._taxonomy = taxonomy
        self.generations = GenerationRegistry()
        self._send_locks = KeyedLocks()

    # ---- entry points -------------------------------------------------------------------
    async def send(self, *, user: User, conversation_id: str, body: SendMessage) -> Exchange:
        conversation = await conversations.get_accessible(
            user=user, conversation_id=conversation_id
        )
        if body.client_message_id is None:
            return await self._send_new(user, conversation, body)
        # Duplicates arriving together in this process wait for the first one instead of each
        # charging the rate limit; across instances the unique index still stores one copy.
        async with self._send_locks.hold((str(conversation.id), body.client_message_id)):
            existing = await Message.find_one(
                {"conversation_id": conversation.id, "client_message_id": body.client_message_id}
            )
            if existing is not None:
                return await self._existing(existing)
            return await self._send_new(user, conversation, body)

    async def _send_new(
        self, user: User, conversation: Conversation, body: SendMessage
    ) -> Exchange:
        assert conversation.id is not None and user.id is not None
        org, remaining = await self._admit(user, provider=body.provider)
        now = utcnow()
        matches = self._taxonomy.tag(body.content, exam=user.profile.exam)
        user_message = Message(
            id=PydanticObjectId(),
            conversation_id=conversation.id,
            author_id=user.id,
            role="user",
            content=body.content,
            client_message_id=body.client_message_id,
            topics=[
                TopicRef(id=m.topic.id, name=m.topic.name, subject=m.topic.subject) for m in matches
            ],
            created_at=now,
            updated_at=now,
        )
        reply = self._new_reply(conversation, user_message, provider=body.provider)
        try:
            await Message.insert_many([user_message, reply], ordered=True)
        except BulkWriteError as exc:
            if any(
                e.get("code") == 11000 and e.get("index") == 0
                for e in exc.details.get("writeErrors", [])
            ):
                existing = await Message.find_one(
                    {
                        "conversation_id": conversation.id,
                        "client_message_id": body.client_message_id,
                    }
                )
                if existing is not None:
                    return await self._existing(existing)
            raise
        inc: dict[str, int] = {"message_count": 2}
        for topic in user_message.topics:
            subject, _, slug = topic.id.partition(".")
            inc[f"topics_seen.{subject}.{slug}"] = 1
        await Conversation.get_pymongo_collection().update_one(
            {"_id": conversation.id},
            {"$inc": inc, "$set": {"last_message_at": now, "updated_at": now}},
        )
        for listener in self._stored_listeners:
            listener(user_message, user)
        generation = self._start(
            _Job(user, org, conversation, user_message, reply, body.provider, remaining, True)
        )
        return Exchange(user_message, reply, generation)

    async def regenerate(
        self, *, user: User, conversation_id: str, message_id: str, provider: str | None = None
    ) -> Exchange:
        """A new reply to the same learner message: a sibling of the old one (same parent)."""
        conversation = await conversations.get_accessible(
            user=user, conversation_id=conversation_id
        )
        target = await self._message_in(conversation, message_id)
        if target.role == "assistant":
            if target.parent_id is None:
                raise _message_not_found()
            question = await Message.find_one(
                {"_id": target.parent_id, "conversation_id": conversation.id}
            )
            if question is None:
                raise _message_not_found()
        elif target.role == "user":
            question = target
        else:
            raise _message_not_found()
        org, remaining = await self._admit(user, provider=provider)
        reply = self._new_reply(conversation, question, provider=provider)
        try:
            await reply.insert()
        except DuplicateKeyError as exc:
            raise Conflict(
                "A reply to this message is still being generated; abort it first.",
                code="generation_in_progress",
            ) from exc
        now = utcnow()
        await Conversation.get_pymongo_collection().update_one(
            {"_id": conversation.id},
            {"$inc": {"message_count": 1}, "$set": {"last_message_at": now, "updated_at": now}},
        )
        generation = self._start(
            _Job(user, org, conversation, question, reply, provider, remaining, False)
        )
        return Exchange(question, reply, generation)

    def add_stored_listener(self, listener: StoredListener) -> None:
        """Called with each newly stored learner message (the socket gateway's `message:new`)."""
        self._stored_listeners.append(listener)

    async def abort(self, *, user: User, conversation_id: str, message_id: str) -> Message:
        """Stops a reply being generated; a reply that has already ended is returned as is."""
        conversation = await conversations.get_accessible(
            user=user, conversation_id=conversation_id
        )
        return await self._abort(await self._message_in(conversation, message_id))

    async def abort_reply(self, *, user: User, message_id: str) -> Message:
        """`abort` by the reply's id alone (a socket's `message:abort`)."""
        return await self._abort(await self.find_message(user=user, message_id=message_id))

    async def find_message(self, *, user: User, message_id: str) -> Message:
        """A message in a conversation the user may read; anything else is not found."""
        message = await Message.get(object_id(message_id, _message_not_found))
        if message is None:
            raise _message_not_found()
        try:
            await conversations.get_accessible(
                user=user, conversation_id=str(message.conversation_id)
            )
        except NotFound as exc:
            raise _message_not_found() from exc
        return message

    async def _abort(self, message: Message) -> Message:
        if message.role != "assistant":
            raise Conflict("Only an assistant reply can be aborted.", code="not_abortable")
        if message.status != "streaming":
            return message
        generation = self.generations.get(str(message.id))
        if generation is not None and generation.stop("aborted"):
            await generation.wait()
        else:
            # Generated by another instance, or by none after a crash. The stored status is the
            # durable signal; the control message makes the owner stop now, not at its next
            # flush, and save the text streamed so far (it sets completed_at when it has).
            await Message.get_pymongo_collection().update_one(
                {"_id": message.id, "status": "streaming"},
                {"$set": {"status": "aborted", "updated_at": utcnow()}},
            )
            await self._cluster.publish("abort", {"message_id": str(message.id)})
            await self._await_settled(message)
        refreshed = await Message.get(message.id)
        assert refreshed is not None
        return refreshed

    async def _on_abort(self, data: dict[str, Any]) -> None:
        generation = self.generations.get(str(data.get("message_id")))
        if generation is not None:
            generation.stop("aborted")

    async def _await_settled(self, message: Message) -> None:
        """Waits for the owner to save the aborted reply; settles it alone if nobody does."""
        collection = Message.get_pymongo_collection()
        deadline = time.monotonic() + _ABORT_SETTLE_SECONDS
        while time.monotonic() < deadline:
            stored = await collection.find_one(
                {"_id": message.id}, projection={"completed_at": 1, "status": 1}
            )
            if stored is None or stored.get("completed_at") is not None:
                return
            await asyncio.sleep(0.05)
        now = utcnow()
        await collection.update_one(
            {"_id": message.id, "status": "aborted", "completed_at": None},
            {"$set": {"completed_at": now, "updated_at": now}},
        )

    def stop_conversation(self, conversation_id: str) -> int:
        """Stops this process's replies in a conversation being deleted: no paying for them."""
        stopped = [
            g for g in self.generations.in_conversation(conversation_id) if g.stop("aborted")
        ]
        return len(stopped)

    async def wait_final(self, exchange: Exchange) -> Exchange:
        """The exchange once its reply has ended (complete, failed or aborted)."""
        if exchange.generation is not None:
            await exchange.generation.wait()
        reply = await self._await_end(exchange.assistant_message)
        return Exchange(exchange.user_message, reply)

    async def watch(
        self, exchange: Exchange, *, idle_s: float | None = None
    ) -> AsyncIterator[list[ChatEvent]]:
        """The reply's events in batches (empty: `idle_s` passed): live with replay when
        generated here, else read from the store once the reply has ended."""
        generation = exchange.generation or self.generations.get(str(exchange.assistant_message.id))
        if generation is not None:
            async for batch in generation.watch(idle_s=idle_s):
                yield batch
            return
        current: Message | None = exchange.assistant_message
        quiet = 0.0
        while current is not None and current.status == "streaming":
            await asyncio.sleep(_POLL_SECONDS)
            quiet += _POLL_SECONDS
            if idle_s is not None and quiet >= idle_s:
                quiet = 0.0
                yield []
            current = await Message.get(exchange.assistant_message.id)
        if current is None:
            raise _message_not_found()
        ended = end_event(current) if current.status in ("complete", "aborted") else None
        yield [self._start_event(current, exchange.user_message), ended or error_event(current)]

    async def sweep_stale(self) -> int:
        """Marks replies left `streaming` by a process that died as failed; returns how many."""
        stale_before = utcnow() - timedelta(seconds=self._settings.chat_stale_stream_seconds)
        result = await Message.get_pymongo_collection().update_many(
            {"status": "streaming", "updated_at": {"$lt": stale_before}},
            {
                "$set": {
                    "status": "failed",
                    "error": {
                        "code": "interrupted",
                        "message": "The reply was interrupted; regenerate it.",
                    },
                    "completed_at": utcnow(),
                }
            },
        )
        if result.modified_count:
            log.warning("marked %d interrupted replies as failed", result.modified_count)
        return result.modified_count

    async def aclose(self) -> None:
        await self.generations.shutdown()

    # ---- helpers -------------------------------------------------------------------------
    async def _admit(
        self, user: User, *, provider: str | None
    ) -> tuple[Organization | None, float | None]:
        """The pinned provider, then the rate limit, then the budget: a refused send stores
        nothing (and a refused provider charges no rate). Returns the learner's organization
        and remaining budget (None: unlimited) for the generation."""
        org = await self._orgs.get(user.org_id)
        self._check_provider(provider, org)
        await self._limiter.hit(str(user.id))
        now = utcnow()
        remaining = await self._budget.remaining(user, org, now)
        if remaining is not None and remaining <= 0:
            raise RateLimited(
                "Your daily AI budget is used up; it renews at midnight your time.",
                retry_after=seconds_to_local_midnight(user, now),
                code="ai_budget_exceeded",
            )
        return org, remaining

    def _check_provider(self, provider: str | None, org: Organization | None) -> None:
        """A provider the learner pins for one message must be usable: planning would
        otherwise silently answer with another (often the offline mentor). The learner's
        `preferred_provider` is only a preference and is never refused here."""
        if provider is None:
            return
        allowed = (
            tuple(org.allowed_providers)
            if org is not None and org.allowed_providers is not None
            else None
        )
        if not self._router.allows(provider, allowed_providers=allowed):
            raise ValidationFailed(
                f"The AI provider {provider!r} is not available here: it is not enabled on "
                "this server or not allowed by your organization.",
                code="provider_not_allowed",
                details={"provider": provider},
            )

    @staticmethod
    def _new_reply(
        conversation: Conversation, question: Message, *, provider: str | None
    ) -> Message:
        now = utcnow()
        return Message(
            id=PydanticObjectId(),
            conversation_id=conversation.id,  # type: ignore[arg-type]
            role="assistant",
            content="",
            status="streaming",
            parent_id=question.id,
            provider=provider,
            created_at=max(now, question.created_at),
            updated_at=now,
        )

    async def _message_in(self, conversation: Conversation, message_id: str) -> Message:
        oid = object_id(message_id, _message_not_found)
        message = await Message.find_one({"_id": oid, "conversation_id": conversation.id})
        if message is None:
            raise _message_not_found()
        return message

    async def _existing(self, question: Message) -> Exchange:
        """A re-sent message: the stored exchange, attached to its generation if still live."""
        deadline = time.monotonic() + _REPLY_APPEAR_SECONDS
        while True:
            reply = (
                await Message.find(
                    {"parent_id": question.id, "conversation_id": question.conversation_id}
                )
                .sort([("created_at", SortDirection.DESCENDING), ("_id", SortDirection.DESCENDING)])
                .first_or_none()
            )
            if reply is not None or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)  # the winner's reply is inserted in the same batch
        if reply is None:
            raise AppError("The earlier send of this message failed.", code="send_failed")
        return Exchange(question, reply, self.generations.get(str(reply.id)), created=False)

    async def _await_end(self, reply: Message) -> Message:
        current: Message | None = reply
        deadline = time.monotonic() + 600
        while current is not None and current.status == "streaming":
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(_POLL_SECONDS)
            current = await Message.get(reply.id)
        if current is None:
            raise _message_not_found()
        return current

    def _start_event(self, reply: Message, question: Message) -> ChatEvent:
        return ChatEvent(
            "assistant:start",
            {
                "message_id": str(reply.id),
                "conversation_id": str(reply.conversation_id),
                "provider": reply.provider,
                "model": reply.model,
                "parent_id": str(question.id),
                "user_message": MessagePublic.from_doc(question).model_dump(mode="json"),
            },
        )

    def _start(self, job: _Job) -> Generation:
        generation = Generation(
            message_id=str(job.reply.id),
            conversation_id=str(job.conversation.id),
            user_id=str(job.user.id),
        )
        self.generations.start(generation, self._generate(generation, job))
        return generation

    async def _generate(self, generation: Generation, job: _Job) -> None:
        user, org, conversation = job.user, job.org, job.conversation
        question, reply, provider, remaining = job.question, job.reply, job.provider, job.remaining
        settings = self._settings
        loop = asyncio.get_running_loop()
        parts: list[str] = []
        earlier: tuple[tuple[TopicRef, ...], ...] = ()
        try:
            recent, weak = await asyncio.gather(
                recent_messages(conversation, question, settings.chat_history_messages),
                memory.weak_topics(user.id, limit=5),
            )
            context = build_context(
                user=user,
                conversation=conversation,
                taxonomy=self._taxonomy,
                weak=weak,
                recent=recent,
                token_budget=settings.chat_history_token_budget,
            )
            earlier = context.earlier_topics
            request = ChatRequest(
                message=question.content,
                system_prompt=context.system_prompt,
                history=context.history,
                max_tokens=settings.chat_max_output_tokens,
                user_id=str(user.id),
                organization_id=str(user.org_id),
                provider=provider,
                preferred_provider=user.preferred_provider,
                allowed_providers=tuple(org.allowed_providers)
                if org is not None and org.allowed_providers is not None
                else None,
                remaining_budget_usd=remaining,
                weak_topics=tuple(w.name for w in weak),
            )
            plan = self._router.plan(request)
            if plan.candidates:
                reply.provider, reply.model = plan.candidates[0].provider, plan.candidates[0].model
            generation.publish(self._start_event(reply, question))
            result: ChatResult | None = None
            seq = 0
            last_flush = loop.time()
            async with aclosing(self._router.stream(request)) as events:
                async for event in events:
                    if isinstance(event, TextReset):
                        parts.clear()
                        generation.publish(
                            reset_event(
                                generation.message_id, generation.conversation_id, seq, event
                            )
                        )
                        await self._flush(reply, "")
                        last_flush = loop.time()
                    elif isinstance(event, TextDelta):
                        seq += 1
                        parts.append(event.text)
                        generation.publish(
                            ChatEvent(
                                "assistant:token",
                                {
                                    "message_id": generation.message_id,
                                    "seq": seq,
                                    "delta": event.text,
                                },
                            )
                        )
                        if loop.time() - last_flush >= settings.chat_flush_seconds:
                            await self._flush(reply, "".join(parts))
                            last_flush = loop.time()
                    elif isinstance(event, Finish):
                        result = event.result
            if result is None:  # pragma: no cover - the router always ends with Finish
                raise AIUnavailable("the AI stream ended without a result")
            await self._budget.record_result(user, result, utcnow())
            final = await self._complete(reply, result)
            generation.publish(end_event(final))
        except asyncio.CancelledError:
            if generation.stop_reason == "aborted":
                final = await self._stop(reply, "".join(parts), status="aborted")
                generation.publish(end_event(final))
            else:
                final = await self._stop(
                    reply,
                    "".join(parts),
                    status="failed",
                    error=MessageError(
                        code="interrupted",
                        message="The server restarted during the reply; regenerate it.",
                    ),
                )
                generation.publish(error_event(final))
            raise
        except _StoppedElsewhere:
            # Aborted through another instance: keep what was streamed up to now.
            await Message.get_pymongo_collection().update_one(
                {"_id": reply.id, "status": "aborted", "completed_at": None},
                {"$set": {"content": "".join(parts), "completed_at": utcnow()}},
            )
            final = await self._reload(reply)
            generation.publish(end_event(final))
        except RouterError as exc:
            if isinstance(exc, AIUnavailable):
                await self._budget.record(user, exc.attempts, utcnow())
            final = await self._stop(
                reply,
                "".join(parts),
                status="failed",
                error=MessageError(code=exc.code, message=_public_message(exc)),
            )
            generation.publish(error_event(final))
        except Exception:
            log.exception("reply generation failed")
            final = await self._stop(
                reply,
                "".join(parts),
                status="failed",
                error=MessageError(code="internal_error", message="The reply failed."),
            )
            generation.publish(error_event(final))
        finally:
            try:
                await self._after_exchange(
                    user=user,
                    conversation=conversation,
                    question=question,
                    earlier=earlier,
                    learn=job.learn,
                )
            except Exception:
                log.exception("updating memory after the exchange failed")

    async def _after_exchange(
        self,
        *,
        user: User,
        conversation: Conversation,
        question: Message,
        earlier: tuple[tuple[TopicRef, ...], ...],
        learn: bool,
    ) -> None:
        now = utcnow()
        collection = Conversation.get_pymongo_collection()
        changes = {"last_message_at": now, "updated_at": now}
        titled = False
        if not conversation.title_set_by_user and conversation.title is None:
            result = await collection.update_one(
                {"_id": conversation.id, "title": None, "title_set_by_user": False},
                {"$set": changes | {"title": make_title(question.content)}},
            )
            titled = result.matched_count == 1
        if not titled:
            await collection.update_one({"_id": conversation.id}, {"$set": changes})
        if learn and user.id is not None:
            evidence = memory.assess(text=question.content, topics=question.topics, earlier=earlier)
            await memory.record(user.id, evidence, at=now)

    async def _flush(self, reply: Message, content: str) -> None:
        result = await Message.get_pymongo_collection().update_one(
            {"_id": reply.id, "status": "streaming"},
            {"$set": {"content": content, "updated_at": utcnow()}},
        )
        if result.matched_count == 0:
            raise _StoppedElsewhere

    async def _complete(self, reply: Message, result: ChatResult) -> Message:
        now = utcnow()
        changes: dict[str, Any] = {
            "content": result.text,
            "status": "complete",
            "provider": result.provider,
            "model": result.model,
            "usage": _usage(result.usage, result.cost_usd).model_dump(),
            "meta": GenerationMeta(
                plan_reason=result.plan_reason,
                finish_reason=result.finish_reason,
                ttft_ms=round(result.ttft_s * 1000) if result.ttft_s is not None else None,
                total_ms=round(result.total_s * 1000),
                attempts=_attempt_records(result.attempts),
            ).model_dump(),
            "updated_at": now,
            "completed_at": now,
        }
        return await self._settle(reply, changes)

    async def _stop(
        self,
        reply: Message,
        content: str,
        *,
        status: str,
        error: MessageError | None = None,
    ) -> Message:
        now = utcnow()
        changes: dict[str, Any] = {
            "status": status,
            "content": content,
            "updated_at": now,
            "completed_at": now,
            "error": error.model_dump() if error else None,
        }
        # An abort through another instance already set the status; the text is ours to save.
        also = ("aborted",) if status == "aborted" else ()
        return await self._settle(reply, changes, also=also)

    async def _settle(
        self, reply: Message, changes: dict[str, Any], *, also: tuple[str, ...] = ()
    ) -> Message:
        """Ends a reply that is still streaming (one round trip); else returns it as stored.
        `also`: statuses set elsewhere whose reply this process still has to complete."""
        query: dict[str, Any] = {"_id": reply.id, "status": "streaming"}
        if also:
            query = {"_id": reply.id, "status": {"$in": ["streaming", *also]}, "completed_at": None}
        stored = await Message.get_pymongo_collection().find_one_and_update(
            query,
            {"$set": changes},
            return_document=ReturnDocument.AFTER,
        )
        if stored is not None:
            return Message.model_validate(stored)
        return await self._reload(reply)

    async def _reload(self, reply: Message) -> Message:
        stored = await Message.get(reply.id)
        return stored if stored is not None else reply


def _public_message(exc: RouterError) -> str:
    if exc.code == "ai_budget_exceeded":
        return "Your daily AI budget is used up; it renews at midnight your time."
    if exc.code == "ai_unavailable":
        return "The AI mentor is unavailable right now; your message is saved, try again soon."
    return exc.message
