"""Admission and storage: whether a learner may send (provider, rate, budget), then storing
their message once.

Order of a send: the limits first (nothing is stored when refused), then the learner's message
and an empty reply in one ordered insert (server/conversations/messages.py: the unique index on
client_message_id makes re-sends and races store one copy). Generating is the runner's job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from ai_router import AIRouter
from models import Conversation, Message, Organization, TopicRef, User
from models.common import utcnow
from server.chat.context import make_title
from server.chat.generation import Generation
from server.chat.limits import DailyBudget, OrgCache, SendLimiter, seconds_to_local_midnight
from server.chat.schemas import SendMessage
from server.conversations import messages
from server.errors import AppError, RateLimited, ValidationFailed
from server.memory.taxonomy import Taxonomy

# How long a re-send waits for the winner's reply (inserted in the same batch) to be readable.
_REPLY_APPEAR_SECONDS = 2.0


@dataclass
class Exchange:
    """A learner message and its reply; `generation` is set while this process generates it."""

    user_message: Message
    assistant_message: Message
    generation: Generation | None = None
    # False for a re-sent client_message_id: the exchange was stored earlier.
    created: bool = True


@dataclass(frozen=True, slots=True)
class Admitted:
    """A stored exchange. `created`: stored now, to be generated with the learner's
    organization and remaining budget (None: unlimited); else stored by an earlier send."""

    question: Message
    reply: Message
    created: bool
    org: Organization | None = None
    remaining: float | None = None
    # The conversation's messages before `question`, newest first, when admission read them
    # already (the re-send check): the runner's history then costs no second query.
    history: list[Message] | None = None


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


class Admission:
    def __init__(
        self,
        *,
        router: AIRouter,
        limiter: SendLimiter,
        budget: DailyBudget,
        taxonomy: Taxonomy,
        history_limit: int,
    ) -> None:
        self._router = router
        self._history_limit = history_limit
        self._limiter = limiter
        self._budget = budget
        self._taxonomy = taxonomy
        self._orgs = OrgCache()
        self._send_locks = KeyedLocks()

    async def send(self, *, user: User, conversation: Conversation, body: SendMessage) -> Admitted:
        """Stores a new learner message and its empty reply, or finds the earlier send of
        the same client_message_id (then nothing is charged or stored)."""
        if body.client_message_id is None:
            return await self._store_new(user, conversation, body)
        assert conversation.id is not None
        # Duplicates arriving together in this process wait for the first one instead of each
        # charging the rate limit; across instances the unique index still stores one copy.
        async with self._send_locks.hold((str(conversation.id), body.client_message_id)):
            # The recent messages serve twice: the re-send check (a window shorter than the
            # limit is the whole conversation, so a miss there is final) and the history
            # the runner would otherwise read again right after the insert.
            history = await messages.recent(conversation=conversation, limit=self._history_limit)
            existing = next(
                (m for m in history if m.client_message_id == body.client_message_id), None
            )
            if existing is None and len(history) >= self._history_limit:
                existing = await messages.find_by_client_id(
                    conversation_id=conversation.id, client_message_id=body.client_message_id
                )
            if existing is not None:
                return await self._stored_earlier(existing)
            return await self._store_new(user, conversation, body, history)

    async def regenerate(
        self, *, user: User, conversation: Conversation, message_id: str, provider: str | None
    ) -> Admitted:
        """A new reply to the learner message named (or answered) by `message_id`."""
        target = await messages.message_in(conversation=conversation, message_id=message_id)
        question = await messages.question_of(conversation=conversation, message=target)
        org, remaining = await self._admit(user, provider=provider)
        reply = await messages.store_reply(
            conversation=conversation, question=question, provider=provider
        )
        return Admitted(question, reply, True, org, remaining)

    async def _store_new(
        self,
        user: User,
        conversation: Conversation,
        body: SendMessage,
        history: list[Message] | None = None,
    ) -> Admitted:
        assert conversation.id is not None and user.id is not None
        org, remaining = await self._admit(user, provider=body.provider)
        matches = self._taxonomy.tag(body.content, exam=user.profile.exam)
        stored = await messages.store_exchange(
            conversation=conversation,
            author_id=user.id,
            content=body.content,
            client_message_id=body.client_message_id,
            topics=[
                TopicRef(id=m.topic.id, name=m.topic.name, subject=m.topic.subject) for m in matches
            ],
            provider=body.provider,
            title=make_title(body.content),
        )
        if stored is None:  # another instance stored this client_message_id first
            assert body.client_message_id is not None
            existing = await messages.find_by_client_id(
                conversation_id=conversation.id, client_message_id=body.client_message_id
            )
            if existing is None:  # pragma: no cover - the duplicate was deleted meanwhile
                raise AppError("The earlier send of this message failed.", code="send_failed")
            return await self._stored_earlier(existing)
        return Admitted(stored.question, stored.reply, True, org, remaining, history)

    async def _stored_earlier(self, question: Message) -> Admitted:
        """A re-sent message: the stored exchange (its reply may lag the winner's insert)."""
        deadline = time.monotonic() + _REPLY_APPEAR_SECONDS
        while True:
            reply = await messages.latest_reply(question=question)
            if reply is not None or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)  # the winner's reply is inserted in the same batch
        if reply is None:
            raise AppError("The earlier send of this message failed.", code="send_failed")
        return Admitted(question, reply, False)

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
