"""The generation runner: the task that writes a reply, and following it to its end.

A reply is a task that does not depend on any connection: it streams the router's text into
events (buffered by its `Generation`, fanned out by listeners), saves the text every
`CHAT_FLUSH_SECONDS` (which is also how it hears of an abort made through another instance),
and always ends with one `assistant:end` or `assistant:error`, even when the database is gone
and the end cannot be stored (the event is then built from the reply in memory).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

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
from server.chat.admission import Exchange
from server.chat.context import build_context
from server.chat.generation import Generation, GenerationRegistry
from server.chat.grounding import Grounded, Grounding
from server.chat.limits import DailyBudget
from server.config import Settings
from server.conversations import messages
from server.errors import dependency_error
from server.events import (
    AssistantEnd,
    AssistantError,
    AssistantReset,
    AssistantStart,
    AssistantToken,
    ServerEvent,
    final_event,
)
from server.memory import service as memory
from server.memory.taxonomy import Taxonomy

log = logging.getLogger("starguide.chat")

_POLL_SECONDS = 0.25
_FOLLOW_LIMIT_SECONDS = 600


@dataclass(frozen=True, slots=True)
class Job:
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
    history: list[Message] | None = None  # read by admission already (newest first)


class _StoppedElsewhere(Exception):
    """The stored reply left `streaming` under us: aborted through another instance."""


class Runner:
    def __init__(
        self, *, settings: Settings, router: AIRouter, taxonomy: Taxonomy, budget: DailyBudget
    ) -> None:
        self._settings = settings
        self._router = router
        self._taxonomy = taxonomy
        self._budget = budget
        self._grounding = Grounding(taxonomy=taxonomy)
        self.generations = GenerationRegistry()

    async def warm(self) -> None:
        """What the first reply would otherwise build (the shipped knowledge's index)."""
        await self._grounding.shipped.warm()

    def start(self, job: Job) -> Generation:
        generation = Generation(
            message_id=str(job.reply.id),
            conversation_id=str(job.conversation.id),
            user_id=str(job.user.id),
        )
        self.generations.start(generation, self._generate(generation, job))
        return generation

    # ---- one reply ------------------------------------------------------------------------
    async def _generate(self, generation: Generation, job: Job) -> None:
        reply = job.reply
        parts: list[str] = []
        earlier: tuple[tuple[TopicRef, ...], ...] = ()
        spent: ChatResult | None = None
        try:
            request, earlier, grounded = await self._prepare(job)
            result = await self._stream(generation, job, request, parts)
            generation.publish(await self._complete(reply, result, grounded))
            # Counted after the end event (off the reply's path), before the task ends: a
            # 201 answer, which waits for the task, and the next send see it counted.
            spent = result
        except asyncio.CancelledError:
            if generation.stop_reason == "aborted":
                ending = self._stop(reply, "".join(parts), "aborted")
            else:
                interrupted = MessageError(
                    code="interrupted",
                    message="The server restarted during the reply; regenerate it.",
                )
                ending = self._stop(reply, "".join(parts), "failed", interrupted)
            await self._end(generation, reply, ending)
            raise
        except _StoppedElsewhere:
            # Aborted through another instance: keep what was streamed up to now.
            await self._end(generation, reply, self._keep_aborted(reply, "".join(parts)))
        except RouterError as exc:
            if isinstance(exc, AIUnavailable):
                await self._budget.record(job.user, exc.attempts, utcnow())
            error = MessageError(code=exc.code, message=_public_message(exc))
            await self._end(generation, reply, self._stop(reply, "".join(parts), "failed", error))
        except Exception:
            log.exception("reply generation failed")
            error = MessageError(code="internal_error", message="The reply failed.")
            await self._end(generation, reply, self._stop(reply, "".join(parts), "failed", error))
        finally:
            try:
                if spent is not None:
                    await self._budget.record_result(job.user, spent, utcnow())
                await self._after_exchange(job, earlier)
            except Exception:
                log.exception("updating memory after the exchange failed")

    async def _prepare(
        self, job: Job
    ) -> tuple[ChatRequest, tuple[tuple[TopicRef, ...], ...], Grounded]:
        """The router's request: the mentor's context from the learner's memory and the
        recent conversation, grounded in passages (server/chat/grounding.py); also the
        topics of earlier turns (for the memory afterwards) and what the passages cite. A
        regenerate (`learn` false) carries its number, so the reply takes another angle."""
        settings, user, org = self._settings, job.user, job.org
        if job.history is not None:
            recent, weak = job.history, await memory.weak_topics(user.id, limit=5)
        else:
            recent, weak = await asyncio.gather(
                messages.recent_before(
                    conversation=job.conversation,
                    before=job.question,
                    limit=settings.chat_history_messages,
                ),
                memory.weak_topics(user.id, limit=5),
            )
        context = build_context(
            user=user,
            conversation=job.conversation,
            taxonomy=self._taxonomy,
            weak=weak,
            recent=recent,
            token_budget=settings.chat_history_token_budget,
        )
        grounded = await self._grounding.gather(
            user=user,
            message=job.question.content,
            weak=[w.name for w in weak],
            conversation=job.conversation,
            topics=[t.id for t in job.question.topics],
            weak_ids=[w.topic_id for w in weak],
        )
        variant = 0 if job.learn else max(0, await messages.reply_count(question=job.question) - 1)
        request = ChatRequest(
            message=job.question.content,
            system_prompt=context.system_prompt,
            history=context.history,
            max_tokens=settings.chat_max_output_tokens,
            user_id=str(user.id),
            organization_id=str(user.org_id),
            provider=job.provider,
            preferred_provider=user.preferred_provider,
            allowed_providers=tuple(org.allowed_providers)
            if org is not None and org.allowed_providers is not None
            else None,
            remaining_budget_usd=job.remaining,
            weak_topics=tuple(w.name for w in weak),
            passages=grounded.passages,
            practice=grounded.practice,
            variant=variant,
        )
        return request, context.earlier_topics, grounded

    async def _stream(
        self, generation: Generation, job: Job, request: ChatRequest, parts: list[str]
    ) -> ChatResult:
        """Publishes the start, each token (and a reset after a failover) and saves the text
        every `chat_flush_seconds`; `parts` holds the text so far for whoever ends the reply."""
        reply, loop = job.reply, asyncio.get_running_loop()
        plan = self._router.plan(request)
        if plan.candidates:
            reply.provider, reply.model = plan.candidates[0].provider, plan.candidates[0].model
        generation.publish(AssistantStart.of(reply, job.question))
        result: ChatResult | None = None
        seq = 0
        last_flush = loop.time()
        async with aclosing(self._router.stream(request)) as events:
            async for event in events:
                if isinstance(event, TextReset):
                    parts.clear()
                    generation.publish(
                        AssistantReset(
                            message_id=generation.message_id,
                            conversation_id=generation.conversation_id,
                            seq=seq,
                            provider=event.provider,
                            model=event.model,
                        )
                    )
                    await self._flush(reply, "")
                    last_flush = loop.time()
                elif isinstance(event, TextDelta):
                    seq += 1
                    parts.append(event.text)
                    generation.publish(
                        AssistantToken(message_id=generation.message_id, seq=seq, delta=event.text)
                    )
                    if loop.time() - last_flush >= self._settings.chat_flush_seconds:
                        await self._flush(reply, "".join(parts))
                        last_flush = loop.time()
                elif isinstance(event, Finish):
                    result = event.result
        if result is None:  # pragma: no cover - the router always ends with Finish
            raise AIUnavailable("the AI stream ended without a result")
        return result

    async def _flush(self, reply: Message, content: str) -> None:
        if not await messages.save_partial(reply_id=reply.id, content=content):
            raise _StoppedElsewhere

    # ---- how a reply ends -----------------------------------------------------------------
    async def _end(
        self, generation: Generation, reply: Message, ending: Awaitable[ServerEvent]
    ) -> None:
        """Publishes the end that `ending` stores. When storing it fails (the database went
        away mid-reply), watchers still hear why the reply ended: an `assistant:error` built
        from the reply in memory (`dependency_unavailable` for an outage)."""
        try:
            event = await ending
        except Exception as exc:
            outage = dependency_error(exc)
            if outage is None:
                log.exception("recording the end of a reply failed")
                failed = MessageError(code="internal_error", message="The reply failed.")
            else:  # `dependency_error` has logged the outage (once a minute at most)
                failed = MessageError(code=outage.code, message=outage.message)
            event = AssistantError.of(reply, failed)
        generation.publish(event)

    async def _complete(
        self, reply: Message, result: ChatResult, grounded: Grounded
    ) -> ServerEvent:
        final = await messages.complete_reply(
            reply=reply,
            content=result.text,
            provider=result.provider,
            model=result.model,
            usage=_usage(result.usage, result.cost_usd),
            meta=GenerationMeta(
                plan_reason=result.plan_reason,
                finish_reason=result.finish_reason,
                ttft_ms=round(result.ttft_s * 1000) if result.ttft_s is not None else None,
                total_ms=round(result.total_s * 1000),
                attempts=_attempt_records(result.attempts),
            ),
            citations=grounded.cited(result.text),
        )
        return AssistantEnd.of(final)

    async def _stop(
        self, reply: Message, content: str, status: str, error: MessageError | None = None
    ) -> ServerEvent:
        final = await messages.stop_reply(reply=reply, content=content, status=status, error=error)
        return AssistantEnd.of(final) if status == "aborted" else AssistantError.of(final)

    async def _keep_aborted(self, reply: Message, content: str) -> ServerEvent:
        await messages.save_aborted_text(message_id=reply.id, content=content)
        return AssistantEnd.of(await messages.reload(reply))

    async def _after_exchange(self, job: Job, earlier: tuple[tuple[TopicRef, ...], ...]) -> None:
        """The learner memory (the conversation's activity and title were written with the
        exchange: server/conversations/messages.py `store_exchange`)."""
        question, user = job.question, job.user
        if job.learn and user.id is not None:
            evidence = memory.assess(text=question.content, topics=question.topics, earlier=earlier)
            await memory.record(user.id, evidence, at=utcnow(), after_reply=True)

    # ---- following a reply ----------------------------------------------------------------
    async def wait_final(self, exchange: Exchange) -> Exchange:
        """The exchange once its reply has ended (complete, failed or aborted)."""
        if exchange.generation is not None:
            await exchange.generation.wait()
        reply = await self._await_end(exchange.assistant_message)
        return Exchange(exchange.user_message, reply)

    async def _await_end(self, reply: Message) -> Message:
        current: Message | None = reply
        deadline = time.monotonic() + _FOLLOW_LIMIT_SECONDS
        while current is not None and current.status == "streaming":
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(_POLL_SECONDS)
            current = await messages.get_message(reply.id)
        if current is None:
            raise messages.message_not_found()
        return current

    async def watch(
        self, exchange: Exchange, *, idle_s: float | None = None
    ) -> AsyncIterator[list[ServerEvent]]:
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
            current = await messages.get_message(exchange.assistant_message.id)
        if current is None:
            raise messages.message_not_found()
        yield [AssistantStart.of(current, exchange.user_message), final_event(current)]

    async def sweep_stale(self) -> int:
        """Marks replies left `streaming` by a process that died as failed; returns how many."""
        before = utcnow() - timedelta(seconds=self._settings.chat_stale_stream_seconds)
        swept = await messages.fail_stale(before=before)
        if swept:
            log.warning("marked %d interrupted replies as failed", swept)
        return swept

    async def aclose(self, drain_s: float = 0.0) -> None:
        await self.generations.drain(drain_s)
        await self.generations.shutdown()


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


def _public_message(exc: RouterError) -> str:
    if exc.code == "ai_budget_exceeded":
        return "Your daily AI budget is used up; it renews at midnight your time."
    if exc.code == "ai_unavailable":
        return "The AI mentor is unavailable right now; your message is saved, try again soon."
    return exc.message
