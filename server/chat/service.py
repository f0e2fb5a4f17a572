"""The one chat service behind REST and Socket.IO: store first, then generate, then learn.

A thin facade over the chat feature's jobs, so REST, the socket gateway and the lifespan have
one object to call: admission and storage (server/chat/admission.py), the generation runner
(server/chat/runner.py) and the cross-instance abort protocol (server/chat/aborts.py). The
events they publish are defined in server/events.py; messages are stored through their owner,
server/conversations/messages.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from ai_router import AIRouter
from models import Conversation, Message, User
from server.chat.aborts import Aborts
from server.chat.admission import Admission, Admitted, Exchange
from server.chat.limits import DailyBudget, SendLimiter
from server.chat.runner import Job, Runner
from server.chat.schemas import SendMessage
from server.cluster import Cluster
from server.config import Settings
from server.conversations import messages
from server.conversations import service as conversations
from server.events import ServerEvent
from server.memory.taxonomy import Taxonomy

__all__ = ["ChatService", "Exchange"]

# Called with the stored learner message and its author (already loaded: no second read).
StoredListener = Callable[[Message, User], None]


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
        # One budget for both: admission reads what generation records.
        budget = DailyBudget(default_usd=settings.ai_daily_budget_usd)
        self._admission = Admission(
            router=router,
            limiter=limiter,
            budget=budget,
            taxonomy=taxonomy,
            history_limit=settings.chat_history_messages,
        )
        self._runner = Runner(settings=settings, router=router, taxonomy=taxonomy, budget=budget)
        self.generations = self._runner.generations
        self._aborts = Aborts(cluster=cluster, generations=self.generations)
        self._stored_listeners: list[StoredListener] = []

    # ---- sending --------------------------------------------------------------------------
    async def send(self, *, user: User, conversation_id: str, body: SendMessage) -> Exchange:
        conversation = await conversations.get_accessible(
            user=user, conversation_id=conversation_id
        )
        admitted = await self._admission.send(user=user, conversation=conversation, body=body)
        if not admitted.created:
            generation = self.generations.get(str(admitted.reply.id))
            return Exchange(admitted.question, admitted.reply, generation, created=False)
        for listener in self._stored_listeners:
            listener(admitted.question, user)
        return self._generate(user, conversation, admitted, provider=body.provider, learn=True)

    async def regenerate(
        self, *, user: User, conversation_id: str, message_id: str, provider: str | None = None
    ) -> Exchange:
        """A new reply to the same learner message: a sibling of the old one (same parent)."""
        conversation = await conversations.get_accessible(
            user=user, conversation_id=conversation_id
        )
        admitted = await self._admission.regenerate(
            user=user, conversation=conversation, message_id=message_id, provider=provider
        )
        return self._generate(user, conversation, admitted, provider=provider, learn=False)

    def _generate(
        self,
        user: User,
        conversation: Conversation,
        admitted: Admitted,
        *,
        provider: str | None,
        learn: bool,
    ) -> Exchange:
        job = Job(
            user=user,
            org=admitted.org,
            conversation=conversation,
            question=admitted.question,
            reply=admitted.reply,
            provider=provider,
            remaining=admitted.remaining,
            learn=learn,
            history=admitted.history,
        )
        return Exchange(admitted.question, admitted.reply, self._runner.start(job))

    async def warm(self) -> None:
        """Builds at start-up what the first reply would otherwise wait for."""
        await self._runner.warm()

    def add_stored_listener(self, listener: StoredListener) -> None:
        """Called with each newly stored learner message (the socket gateway's `message:new`)."""
        self._stored_listeners.append(listener)

    # ---- aborting -------------------------------------------------------------------------
    async def abort(self, *, user: User, conversation_id: str, message_id: str) -> Message:
        """Stops a reply being generated; a reply that has already ended is returned as is."""
        conversation = await conversations.get_accessible(
            user=user, conversation_id=conversation_id
        )
        message = await messages.message_in(conversation=conversation, message_id=message_id)
        return await self._aborts.abort(message)

    async def abort_reply(self, *, user: User, message_id: str) -> Message:
        """`abort` by the reply's id alone (a socket's `message:abort`)."""
        return await self._aborts.abort(await self.find_message(user=user, message_id=message_id))

    async def find_message(self, *, user: User, message_id: str) -> Message:
        """A message in a conversation the user may read; anything else is not found."""
        return await messages.find_readable(user=user, message_id=message_id)

    def stop_conversation(self, conversation_id: str) -> int:
        """Stops this process's replies in a conversation being deleted: no paying for them."""
        return self._aborts.stop_conversation(conversation_id)

    # ---- following ------------------------------------------------------------------------
    async def wait_final(self, exchange: Exchange) -> Exchange:
        """The exchange once its reply has ended (complete, failed or aborted)."""
        return await self._runner.wait_final(exchange)

    def watch(
        self, exchange: Exchange, *, idle_s: float | None = None
    ) -> AsyncIterator[list[ServerEvent]]:
        """The reply's events in batches (empty: `idle_s` passed)."""
        return self._runner.watch(exchange, idle_s=idle_s)

    async def sweep_stale(self) -> int:
        """Marks replies left `streaming` by a process that died as failed; returns how many."""
        return await self._runner.sweep_stale()

    async def aclose(self, drain_s: float = 0.0) -> None:
        """Ends every running reply: lets them finish for `drain_s` first (graceful
        shutdown), then stores the rest as `interrupted`."""
        await self._runner.aclose(drain_s)
