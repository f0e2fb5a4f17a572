"""AI-generated questions as a background job (`quiz.generate`, docs/PRACTICE.md).

`POST /questions/generate` checks what it can at once (role, topic, the document is readable
and ready) and queues the job with ids only. The job gathers material (the document's
passages, or the organization's library passages on the topic, plus the topic's notes and
its published questions' explanations), has questions written, and stores each as a draft
only after its checks: structure, a second pass that solves it without the key and must agree
with it, and no duplicate of the bank or the organization's questions. With an AI vendor the
router writes and solves; without one (no keys, or the organization allows none) the offline
writer cuts cloze and recall questions from the material, and its solver re-fills the blank.

A job may run twice (a retry after a crash): a question already stored is a duplicate the
second time, so nothing is stored twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any, Final

from beanie import PydanticObjectId

from ai_router import AIRouter, AIUnavailable
from ai_router.providers.offline_knowledge import load_notes
from models import Question, User
from models.question import Difficulty
from server.audit import service as audit_service
from server.errors import Conflict
from server.jobs import JobContext, JobError, JobQueue
from server.library import service as library_service
from server.memory.taxonomy import Topic, load_taxonomy
from server.orgs import service as orgs_service
from server.quiz import ai_questions, authoring, offline_questions, visibility
from server.quiz.authoring_schemas import GenerateRequest
from server.quiz.errors import invalid_field
from server.quiz.offline_questions import Draft, SourceText
from server.quiz.visibility import visible_filter
from server.users import service as users_service

log = logging.getLogger("starguide.quiz")

JOB_NAME: Final = "quiz.generate"
PASSAGES_USED: Final = 12  # library passages gathered per job
EXPLANATIONS_USED: Final = 30  # published questions' explanations gathered per job
DEFAULT_DIFFICULTY: Final[Difficulty] = "medium"
OFFLINE_DIFFICULTY: Final[Difficulty] = "easy"  # cloze and recall questions test recall


async def request_generation(*, state: Any, user: User, body: GenerateRequest) -> str:
    """Checks the request and queues the job; the job id for `GET /jobs/{job_id}`."""
    authoring.ensure_manager(user)
    if load_taxonomy().get(body.topic_id) is None:
        raise invalid_field("topic_id", f"Unknown topic {body.topic_id!r}.", code="unknown_topic")
    if body.document_id is not None:
        document = await library_service.get_readable(user=user, document_id=body.document_id)
        if document.status != "ready":
            raise Conflict("The document is not processed yet.", code="document_not_ready")
    payload = {
        "owner_id": str(user.id),
        "org_id": str(user.org_id),
        "topic_id": body.topic_id,
        "count": body.count,
        "difficulty": body.difficulty,
        "document_id": body.document_id,
    }
    job_id: str = await state.jobs.enqueue(JOB_NAME, payload, retries=2, timeout_s=600)
    await audit_service.record(
        action="question.generate",
        actor_id=user.id,
        org_id=user.org_id,
        target_type="job",
        target_id=job_id,
    )
    return job_id


async def _library_sources(user: User, topic: Topic, document_id: str | None) -> list[SourceText]:
    """The document's passages, or the organization's shared passages tagged with the topic,
    through the library's own entry points (which keep out what the mentor may not read)."""
    if document_id is not None:
        found = await library_service.document_passages(
            user=user, document_id=document_id, limit=PASSAGES_USED
        )
    else:
        found = await library_service.search(
            user=user,
            query=" ".join((topic.name, *topic.synonyms)),
            limit=PASSAGES_USED,
            scopes=["org"],
            topics=[topic.id],
        )
    return [SourceText(title=p.title, text=p.text, page=p.page) for p in found]


async def _topic_material(org_id: PydanticObjectId, topic: Topic) -> list[SourceText]:
    """What the app already knows of the topic: its shipped notes, and the explanations of
    the published questions the organization's learners see."""
    sources = [
        SourceText(title=f"StarGuide notes: {note.title}", text=note.passage_text())
        for note in load_notes()
        if note.topic == topic.id
    ]
    cursor = (
        Question.get_pymongo_collection()
        .find({"topic_id": topic.id, **visible_filter(org_id)}, projection={"explanation": 1})
        .sort("_id", 1)
        .limit(EXPLANATIONS_USED)
    )
    title = f"Explanation of a {topic.name} question"
    sources += [SourceText(title=title, text=raw["explanation"]) async for raw in cursor]
    return sources


class _Run:
    """One job: the checks every draft goes through and the tally of the outcome."""

    def __init__(self, ctx: JobContext, user: User, topic: Topic, count: int) -> None:
        self.ctx, self.user, self.topic, self.count = ctx, user, topic, count
        self.created: list[str] = []
        self.rejected: Counter[str] = Counter()

    async def keep(self, draft: Draft, difficulty: Difficulty, solved: int | None) -> None:
        """Stores the draft if the solver agreed and it is new; counts why not otherwise."""
        if solved is None:
            self.rejected["solver_unclear"] += 1
        elif solved != draft.answer:
            self.rejected["solver_disagreed"] += 1
        else:
            question = authoring.new_question(
                org_id=self.user.org_id,
                created_by=self.user.id,
                topic_id=self.topic.id,
                difficulty=difficulty,
                stem=draft.stem,
                options=draft.options,
                answer=draft.answer,
                explanation=draft.explanation,
            )
            if await authoring.insert_checked(question):
                self.created.append(str(question.id))
            else:
                self.rejected["duplicate"] += 1
        await self.ctx.progress(min(len(self.created), self.count), self.count)

    async def is_duplicate(self, draft: Draft) -> bool:
        """Checked before the solver runs, so no vendor call is spent on a known question."""
        fingerprint = visibility.fingerprint(draft.stem, draft.options)
        if await authoring.existing_fingerprints(self.user.org_id, [fingerprint]):
            self.rejected["duplicate"] += 1
            return True
        return False

    def result(self, mode: str) -> dict[str, Any]:
        return {
            "created": len(self.created),
            "rejected": sum(self.rejected.values()),
            "reasons": dict(sorted(self.rejected.items())),
            "question_ids": self.created,
            "mode": mode,
        }


async def _offline(run: _Run, sources: list[SourceText], difficulty: Difficulty) -> None:
    for draft in offline_questions.make_drafts(run.topic, sources):
        if len(run.created) >= run.count:
            return
        if await run.is_duplicate(draft):
            continue
        await run.keep(draft, difficulty, offline_questions.solve(draft))


async def _with_vendor(
    run: _Run,
    router: AIRouter,
    sources: list[SourceText],
    difficulty: Difficulty,
    providers: tuple[str, ...],
) -> None:
    ids = {"user_id": str(run.user.id), "org_id": str(run.user.org_id)}
    written = await ai_questions.write(
        router,
        topic=run.topic,
        difficulty=difficulty,
        count=run.count,
        sources=sources,
        providers=providers,
        **ids,
    )
    run.rejected["structure"] += written.malformed
    for draft in written.drafts:
        if await run.is_duplicate(draft):
            continue
        solved = await ai_questions.solve(
            router, draft, writer=written.provider, providers=providers, **ids
        )
        await run.keep(draft, difficulty, solved)


async def _handle(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    user = await users_service.get_user(user_id=PydanticObjectId(payload["owner_id"]))
    if user is None or user.disabled or user.role not in authoring.MANAGERS:
        raise JobError("The requester may no longer write questions.", retry=False)
    topic = load_taxonomy().get(payload["topic_id"])
    if topic is None:
        raise JobError("The topic is no longer in the syllabus.", retry=False)
    count = int(payload["count"])
    run = _Run(ctx, user, topic, count)
    await ctx.progress(0, count)
    sources = await _library_sources(user, topic, payload.get("document_id"))
    if payload.get("document_id") is None or not sources:
        sources += await _topic_material(user.org_id, topic)
    org = await orgs_service.get_org(org_id=user.org_id)
    router: AIRouter = ctx.state.ai_router
    providers = ai_questions.vendors(router, org.allowed_providers if org else None)
    requested: Difficulty | None = payload.get("difficulty")
    if providers:
        try:
            await _with_vendor(run, router, sources, requested or DEFAULT_DIFFICULTY, providers)
        except AIUnavailable as exc:
            log.warning("question generation: no AI vendor answered")
            raise JobError("No AI provider answered; the job will retry.") from exc
        mode = "ai"
    else:
        await _offline(run, sources, requested or OFFLINE_DIFFICULTY)
        mode = "offline"
    await ctx.progress(count, count)
    result = run.result(mode)
    log.info(
        "questions generated",
        extra={"questions_made": result["created"], "questions_rejected": result["rejected"]},
    )
    return result


def register_jobs(queue: JobQueue) -> None:
    queue.register(JOB_NAME, _handle)
