"""Quizzes through the API and the service: picking, answering, mastery, XP, idempotency."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from beanie import PydanticObjectId

from models import LearnerTopic, Progress, Question, QuizAttempt, TopicMastery, User, XpEvent
from models.common import utcnow
from server.memory import service as memory
from server.quiz import mastery
from server.quiz import service as quiz
from server.quiz.schemas import AttemptCreate
from tests.conftest import Api
from tests.quiz.helpers import question, replace_bank

LAWS = [f"law-{i:02d}" for i in range(20)]
QUESTIONS = [
    question("vec-e", "physics.vectors", difficulty="easy"),
    question("vec-m", "physics.vectors", difficulty="medium"),
    question("vec-h", "physics.vectors", difficulty="hard", answer=3),
    question("kin-e", "physics.kinematics", difficulty="easy", answer=0),
    question("kin-m", "physics.kinematics", difficulty="medium"),
    question("mole-e", "chemistry.mole_concept", difficulty="easy", answer=2),
    question("mole-m", "chemistry.mole_concept", difficulty="medium"),
    question("vir-e", "biology.viruses", difficulty="easy", exams=["NEET"]),
    question("vir-m", "biology.viruses", difficulty="medium", exams=["NEET"]),
    question("sets-e", "mathematics.sets", difficulty="easy", exams=["JEE"]),
    question("pre-m", "upsc_gs2.preamble_features", exams=["UPSC"]),
    *(
        question(key, "physics.laws_of_motion", difficulty=("easy", "medium", "hard")[i % 3])
        for i, key in enumerate(LAWS)
    ),
]


@pytest.fixture(scope="module")
async def bank(app: Any) -> dict[str, Question]:
    return await replace_bank(QUESTIONS)


async def _user(me: dict[str, Any]) -> User:
    user = await User.get(PydanticObjectId(me["user"]["id"]))
    assert user is not None
    return user


async def _next(api: Api, me: dict[str, Any], topic: str | None = None) -> dict[str, Any]:
    params = {"topic": topic} if topic else {}
    response = await api.client.get("/api/v1/quiz/next", params=params, headers=me["auth"])
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _answer(
    api: Api, me: dict[str, Any], q: Question, *, right: bool = True, **extra: Any
) -> httpx.Response:
    option = q.answer if right else (q.answer + 1) % 4
    body = {"question_id": str(q.id), "option": option, **extra}
    return await api.client.post("/api/v1/quiz/attempts", json=body, headers=me["auth"])


async def _answered(api: Api, me: dict[str, Any], q: Question, **kw: Any) -> dict[str, Any]:
    response = await _answer(api, me, q, **kw)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def progress_codes(progress: Progress | None) -> list[str]:
    assert progress is not None
    return progress.achievements


async def _set_due(user: User, topic_id: str, due: datetime) -> None:
    await TopicMastery.get_pymongo_collection().update_one(
        {"user_id": user.id, "topic_id": topic_id}, {"$set": {"due": due}}
    )


async def _mastery(user: User, topic_id: str) -> TopicMastery:
    found = await TopicMastery.find_one({"user_id": user.id, "topic_id": topic_id})
    assert found is not None
    return found


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


# ---- the next question ----------------------------------------------------------------------
async def test_a_question_never_carries_its_answer(api: Api, bank: dict[str, Question]) -> None:
    me = await api.register(exam="JEE")
    for topic in (None, "physics.vectors", "biology.viruses", "mathematics.sets"):
        params = {"topic": topic} if topic else {}
        response = await api.client.get("/api/v1/quiz/next", params=params, headers=me["auth"])
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"question", "reason", "notes"} and body["notes"] == []
        shown = body["question"]
        assert set(shown) == {"id", "subject", "topic", "difficulty", "stem", "options"}
        assert set(shown["topic"]) == {"id", "name", "subject"}
        assert not _keys(body) & {"answer", "explanation", "correct", "correct_option", "key"}
        stored = await Question.get(PydanticObjectId(shown["id"]))
        assert stored is not None
        assert shown["options"] == stored.options and shown["stem"] == stored.stem
        assert "secret reason" not in response.text and stored.explanation not in response.text
        if topic:
            assert body["reason"] == "requested" and shown["topic"]["id"] == topic


async def test_a_requested_topic_unknown_or_empty(api: Api, bank: dict[str, Question]) -> None:
    me = await api.register(exam="JEE")
    body = await _next(api, me, "mathematics.sets")
    assert body["question"]["id"] == str(bank["sets-e"].id)
    assert body["question"]["topic"] == {
        "id": "mathematics.sets",
        "name": "Sets and Venn Diagrams",
        "subject": "mathematics",
    }
    await _answered(api, me, bank["sets-e"])
    # Asked for, a topic's only question comes again even though it was just answered.
    assert (await _next(api, me, "mathematics.sets"))["question"]["id"] == str(bank["sets-e"].id)

    unknown = await api.client.get(
        "/api/v1/quiz/next", params={"topic": "physics.no_such_thing"}, headers=me["auth"]
    )
    assert unknown.status_code == 422
    error = unknown.json()["error"]
    assert error["code"] == "unknown_topic" and error["details"]["fields"][0]["field"] == "topic"
    empty = await api.client.get(
        "/api/v1/quiz/next", params={"topic": "physics.units_dimensions"}, headers=me["auth"]
    )
    assert empty.status_code == 404
    assert empty.json()["error"]["code"] == "no_question_available"
    anonymous = await api.client.get("/api/v1/quiz/next")
    assert anonymous.status_code == 401


async def test_due_reviews_come_first_then_weak_topics_then_new_topics(
    api: Api, bank: dict[str, Question]
) -> None:
    me = await api.register(exam="JEE")
    user = await _user(me)
    await _answered(api, me, bank["kin-e"])
    await _answered(api, me, bank["mole-e"], right=False)
    assert [w.topic_id for w in await memory.weak_topics(user.id)] == ["chemistry.mole_concept"]

    now = utcnow()
    await _set_due(user, "physics.kinematics", now - timedelta(hours=1))
    await _set_due(user, "chemistry.mole_concept", now + timedelta(hours=1))
    due = await _next(api, me)
    assert due["reason"] == "review_due"
    # The topic's other question: the one answered a moment ago is not repeated.
    assert due["question"]["id"] == str(bank["kin-m"].id)

    await _set_due(user, "physics.kinematics", now + timedelta(hours=1))
    weak = await _next(api, me)
    assert weak["reason"] == "weak_topic"
    assert weak["question"]["id"] == str(bank["mole-m"].id)

    await _answered(api, me, bank["mole-m"])
    await _set_due(user, "chemistry.mole_concept", now + timedelta(hours=1))
    new = await _next(api, me)
    assert new["reason"] == "new_topic"
    assert new["question"]["topic"]["id"] not in {"physics.kinematics", "chemistry.mole_concept"}
    served = await Question.get(PydanticObjectId(new["question"]["id"]))
    assert served is not None and "JEE" in served.exams


async def test_practised_exam_topics_by_lowest_mastery_at_the_right_difficulty(
    api: Api, bank: dict[str, Question]
) -> None:
    me = await api.register(exam="NEET")
    user = await _user(me)
    assert user.id is not None
    later = utcnow() + timedelta(days=3)
    levels = {
        "physics.vectors": 50,
        "physics.kinematics": 20,
        "physics.laws_of_motion": 95,
        "chemistry.mole_concept": 80,
        "biology.viruses": 60,
    }
    for topic_id, points in levels.items():
        await TopicMastery(
            user_id=user.id,
            topic_id=topic_id,
            name=topic_id,
            subject=topic_id.split(".")[0],
            points=points,
            level=mastery.level_for(points),
            card=mastery.new_card(later),
            due=later,
        ).insert()
    lowest = await _next(api, me)
    assert lowest["reason"] == "low_mastery"
    assert lowest["question"]["id"] == str(bank["kin-e"].id)  # 20 points: easy first
    # Points 50 call for a medium question, 80 for a hard one.
    assert (await _next(api, me, "physics.vectors"))["question"]["id"] == str(bank["vec-m"].id)
    await TopicMastery.get_pymongo_collection().update_one(
        {"user_id": user.id, "topic_id": "physics.vectors"}, {"$set": {"points": 80}}
    )
    assert (await _next(api, me, "physics.vectors"))["question"]["id"] == str(bank["vec-h"].id)


async def test_without_an_exam_or_once_it_is_exhausted_any_question(
    api: Api, bank: dict[str, Question]
) -> None:
    anyone = await api.register()
    assert (await _next(api, anyone))["reason"] == "any"

    upsc = await api.register(exam="UPSC")
    first = await _next(api, upsc)
    assert (first["reason"], first["question"]["id"]) == ("new_topic", str(bank["pre-m"].id))
    await _answered(api, upsc, bank["pre-m"])
    other = await _next(api, upsc)
    assert other["reason"] == "any" and other["question"]["id"] != str(bank["pre-m"].id)


async def _due_topic(user: User, topic_id: str, due: datetime) -> None:
    assert user.id is not None
    await TopicMastery(
        user_id=user.id,
        topic_id=topic_id,
        name=topic_id,
        subject=topic_id.split(".")[0],
        card=mastery.new_card(due),
        due=due,
    ).insert()


def _attempt(user: User, q: Question, at: datetime) -> QuizAttempt:
    assert user.id is not None and q.id is not None
    return QuizAttempt(
        user_id=user.id,
        org_id=user.org_id,
        question_id=q.id,
        topic_id=q.topic_id,
        option=0,
        correct=False,
        local_day=at.date().isoformat(),
        created_at=at,
    )


async def test_due_topics_are_tried_in_order_from_one_read(
    api: Api, bank: dict[str, Question]
) -> None:
    """The due topics' candidates are read together: the earliest due topic whose questions
    were all answered lately is passed over for the next one, never for a later step."""
    me = await api.register(exam="JEE")
    user = await _user(me)
    now = utcnow()
    await _due_topic(user, "chemistry.mole_concept", now - timedelta(hours=3))
    await _due_topic(user, "physics.kinematics", now - timedelta(hours=2))
    await _due_topic(user, "physics.vectors", now - timedelta(hours=1))
    await QuizAttempt.insert_many(
        [_attempt(user, bank[k], now - timedelta(minutes=5)) for k in ("mole-e", "mole-m", "kin-e")]
    )
    due = await _next(api, me)
    assert due["reason"] == "review_due"
    assert due["question"]["id"] == str(bank["kin-m"].id)


async def test_a_learner_with_more_answers_than_one_read_still_skips_recent_ones(
    api: Api, bank: dict[str, Question]
) -> None:
    """Over `_RECENT_LIMIT` answers in a day: the shared read of recent answers is cut, so a
    topic reads its own; an answer older than the newest thousand still counts as recent."""
    me = await api.register(exam="JEE")
    user = await _user(me)
    now = utcnow()
    await _due_topic(user, "physics.kinematics", now - timedelta(hours=1))
    old = [_attempt(user, bank[k], now - timedelta(hours=2)) for k in ("kin-e", "kin-m")]
    newer = [_attempt(user, bank["vec-e"], now - timedelta(seconds=i)) for i in range(1, 1001)]
    await QuizAttempt.insert_many(old + newer)
    served = await _next(api, me)
    assert served["reason"] == "new_topic"
    assert served["question"]["topic"]["id"] != "physics.kinematics"


async def test_a_bank_run_dry_repeats_the_oldest_then_404s(
    api: Api, bank: dict[str, Question]
) -> None:
    me = await api.register(exam="JEE")
    collection = Question.get_pymongo_collection()
    saved = await collection.find({}).to_list()
    await collection.delete_many({"key": {"$nin": ["vec-e", "kin-e"]}})
    try:
        for key in ("vec-e", "kin-e"):
            await _answered(api, me, bank[key])
        # Both answered lately: the one answered longest ago comes back.
        repeat = await _next(api, me)
        assert (repeat["reason"], repeat["question"]["id"]) == ("repeat", str(bank["vec-e"].id))
        await collection.delete_many({})
        response = await api.client.get("/api/v1/quiz/next", headers=me["auth"])
    finally:
        await collection.delete_many({})
        await collection.insert_many(saved)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "no_question_available"


# ---- answering ------------------------------------------------------------------------------
async def test_invalid_attempts_are_refused_and_store_nothing(
    api: Api, bank: dict[str, Question]
) -> None:
    me = await api.register(exam="JEE")
    user = await _user(me)
    q = str(bank["vec-m"].id)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"question_id": str(PydanticObjectId()), "option": 0}, 404, "question_not_found"),
        ({"question_id": "not-an-id", "option": 0}, 404, "question_not_found"),
        ({"question_id": q, "option": 4}, 422, "option_out_of_range"),
        ({"question_id": q, "option": -1}, 422, "validation_error"),
        ({"question_id": q, "option": "1"}, 422, "validation_error"),
        ({"question_id": q, "option": True}, 422, "validation_error"),
        ({"question_id": q, "option": 1, "correct": True}, 422, "validation_error"),
        ({"question_id": q}, 422, "validation_error"),
        ({"question_id": q, "option": 1, "client_attempt_id": ""}, 422, "validation_error"),
        ({"question_id": {"$ne": ""}, "option": 1}, 422, "validation_error"),
        ({"question_id": q, "option": {"$gt": 0}}, 422, "validation_error"),
        (
            {"question_id": q, "option": 1, "client_attempt_id": {"$ne": None}},
            422,
            "validation_error",
        ),
        ({"question_id": q * 10, "option": 1}, 422, "validation_error"),
    ]
    for body, status, code in cases:
        response = await api.client.post("/api/v1/quiz/attempts", json=body, headers=me["auth"])
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"]["code"] == code, body
    unauthenticated = await api.client.post(
        "/api/v1/quiz/attempts", json={"question_id": q, "option": 1}
    )
    assert unauthenticated.status_code == 401
    assert await QuizAttempt.find({"user_id": user.id}).count() == 0
    assert await TopicMastery.find({"user_id": user.id}).count() == 0


async def test_a_right_answer_earns_xp_and_mastery_once_per_question_and_day(
    api: Api, app: Any, bank: dict[str, Question]
) -> None:
    me = await api.register(exam="JEE")
    user = await _user(me)
    vec_m = bank["vec-m"]
    before = utcnow()
    body = await _answered(api, me, vec_m)
    assert body["correct"] is True and body["replayed"] is False
    assert body["question_id"] == str(vec_m.id)
    assert body["correct_option"] == vec_m.answer and body["explanation"] == vec_m.explanation
    assert body["mastery"]["topic_id"] == "physics.vectors"
    assert body["mastery"]["name"] == "Scalars and Vectors"
    assert body["mastery"]["before"] == {"points": 0, "level": "attempted"}
    assert body["mastery"]["after"] == {"points": 12, "level": "attempted"}
    assert body["mastery"]["counted"] is True
    next_review = datetime.fromisoformat(body["mastery"]["next_review_at"])
    assert before + timedelta(days=1) <= next_review <= utcnow() + timedelta(days=3)
    # 8 for the answer and 5 for the "first right answer" badge it unlocked.
    assert body["xp"] == {"awarded": quiz.QUIZ_XP["medium"], "xp_total": 13, "level": 1}
    assert progress_codes(await Progress.find_one({"user_id": user.id})) == ["quiz_first_right"]

    today = datetime.now(ZoneInfo("Asia/Kolkata")).date().isoformat()
    event = await XpEvent.find_one({"user_id": user.id, "source": "quiz"})
    assert event is not None and event.source_id == f"{vec_m.id}:{today}"
    progress = await Progress.find_one({"user_id": user.id})
    assert progress is not None and progress.streak.current == 1

    # Again the same day, right or wrong: no XP, and no new evidence for mastery.
    again = await _answered(api, me, vec_m)
    assert again["xp"]["awarded"] == 0 and again["xp"]["xp_total"] == 13
    assert again["mastery"]["counted"] is False
    assert again["mastery"]["before"] == again["mastery"]["after"] == body["mastery"]["after"]
    wrong = await _answered(api, me, vec_m, right=False)
    assert wrong["correct"] is False and wrong["mastery"]["after"]["points"] == 12

    # A hard one: 10 XP, which completes the daily goal (+10) and earns its badge (+10); the
    # total shown includes what the answer set off.
    hard = await _answered(api, me, bank["vec-h"])
    assert hard["mastery"]["after"] == {"points": 28, "level": "attempted"}
    assert hard["xp"]["awarded"] == 10 and hard["xp"]["xp_total"] == 43
    assert await app.state.ctx.progress.ledger_total(user_id=user.id) == 43
    stored = await _mastery(user, "physics.vectors")
    assert (stored.attempts, stored.correct, stored.points) == (4, 3, 28)

    # The next local day the same question counts and earns again.
    tomorrow = await quiz.answer(
        user=user,
        body=AttemptCreate(question_id=str(vec_m.id), option=vec_m.answer),
        progress=app.state.ctx.progress,
        now=utcnow() + timedelta(days=1),
    )
    assert tomorrow.xp.awarded == 8 and tomorrow.mastery.counted
    assert tomorrow.mastery.after.points == 40 and tomorrow.mastery.after.level == "familiar"


async def test_a_wrong_answer_lowers_mastery_drops_the_level_and_marks_a_weak_topic(
    api: Api, bank: dict[str, Question]
) -> None:
    me = await api.register(exam="JEE")
    user = await _user(me)
    assert user.id is not None
    later = utcnow() + timedelta(days=5)
    await TopicMastery(
        user_id=user.id,
        topic_id="physics.kinematics",
        name="Kinematics",
        subject="physics",
        points=72,
        level="proficient",
        card=mastery.new_card(later),
        due=later,
    ).insert()
    body = await _answered(api, me, bank["kin-e"], right=False)
    assert body["correct"] is False and body["correct_option"] == bank["kin-e"].answer
    assert body["mastery"]["before"] == {"points": 72, "level": "proficient"}
    assert body["mastery"]["after"] == {"points": 60, "level": "familiar"}
    assert body["xp"] == {"awarded": 0, "xp_total": 0, "level": 1}
    # The review comes back soon after a miss.
    assert datetime.fromisoformat(body["mastery"]["next_review_at"]) < later

    profile = await api.client.get("/api/v1/users/me", headers=me["auth"])
    weak = profile.json()["memory"]["weak_topics"]
    assert [w["topic_id"] for w in weak] == ["physics.kinematics"]
    assert weak[0]["reason"] == "missed a quiz question (easy)"
    topic = await LearnerTopic.find_one({"user_id": user.id, "topic_id": "physics.kinematics"})
    assert topic is not None and topic.counts.quiz_wrong == 1


async def test_a_retried_client_attempt_id_stores_one_attempt(
    api: Api, app: Any, bank: dict[str, Question]
) -> None:
    me = await api.register(exam="JEE")
    user = await _user(me)
    first = await _answered(api, me, bank["vec-e"], client_attempt_id="c-1")
    retry = await _answered(api, me, bank["vec-e"], client_attempt_id="c-1")
    assert retry["replayed"] is True and first["replayed"] is False
    assert {**retry, "replayed": False} == first
    reused = await _answer(api, me, bank["vec-e"], right=False, client_attempt_id="c-1")
    assert reused.status_code == 409
    assert reused.json()["error"]["code"] == "client_attempt_id_reused"

    racing = await asyncio.gather(
        *(_answered(api, me, bank["kin-m"], client_attempt_id="c-2") for _ in range(5))
    )
    assert len({r["attempt_id"] for r in racing}) == 1
    assert sum(not r["replayed"] for r in racing) <= 1
    assert len({str(r["mastery"]) for r in racing}) == 1
    assert await QuizAttempt.find({"user_id": user.id}).count() == 2
    assert (await _mastery(user, "physics.vectors")).attempts == 1
    assert (await _mastery(user, "physics.kinematics")).attempts == 1
    assert len(await XpEvent.find({"user_id": user.id, "source": "quiz"}).to_list()) == 2

    # A first request that died after storing its attempt: the retry finishes it, once.
    assert user.id is not None
    orphan = QuizAttempt(
        user_id=user.id,
        org_id=user.org_id,
        question_id=bank["mole-e"].id,  # type: ignore[arg-type]
        topic_id="chemistry.mole_concept",
        option=bank["mole-e"].answer,
        correct=True,
        local_day=datetime.now(ZoneInfo("Asia/Kolkata")).date().isoformat(),
        client_attempt_id="c-3",
    )
    await orphan.insert()
    finished = await _answered(api, me, bank["mole-e"], client_attempt_id="c-3")
    assert finished["replayed"] is True and finished["attempt_id"] == str(orphan.id)
    assert finished["mastery"]["after"]["points"] == 8 and finished["xp"]["awarded"] == 5
    assert (await _answered(api, me, bank["mole-e"], client_attempt_id="c-3")) == finished
    assert (await _mastery(user, "chemistry.mole_concept")).attempts == 1
    stored = await QuizAttempt.get(orphan.id)  # type: ignore[arg-type]
    assert stored is not None and stored.result is not None
    # The badge counter moved once per attempt, however often each was retried.
    progress = await Progress.find_one({"user_id": user.id})
    assert progress is not None and progress.quiz_correct == 3


async def test_concurrent_answers_on_one_topic_are_all_applied_in_one_chain(
    api: Api, app: Any, bank: dict[str, Question]
) -> None:
    me = await api.register(exam="JEE")
    user = await _user(me)
    questions = [bank[key] for key in LAWS]
    results = await asyncio.gather(
        *(_answered(api, me, q, right=i % 2 == 0) for i, q in enumerate(questions))
    )
    assert sum(r["correct"] for r in results) == 10

    stored = await _mastery(user, "physics.laws_of_motion")
    assert (stored.attempts, stored.correct, stored.version) == (20, 10, 20)
    assert {str(a.attempt_id) for a in stored.applied} == {r["attempt_id"] for r in results}
    attempts = {a.id: a for a in await QuizAttempt.find({"user_id": user.id}).to_list()}
    difficulty = {q.id: q.difficulty for q in questions}
    # Each applied answer started from the previous one's result: no update was lost.
    points = 0
    card = mastery.new_card(min(a.created_at for a in attempts.values()))
    for entry in stored.applied:
        attempt = attempts[entry.attempt_id]
        assert entry.before_points == points
        points = mastery.points_after(
            points, correct=attempt.correct, difficulty=difficulty[attempt.question_id]
        )
        assert entry.after_points == points
        card = mastery.review(card, correct=attempt.correct, at=attempt.created_at)
    assert stored.points == points and stored.level == mastery.level_for(points)
    replayed = card.model_dump(exclude={"card_id"})
    assert stored.card.model_dump(exclude={"card_id"}) == replayed
    assert stored.due == stored.card.due

    topic = await LearnerTopic.find_one({"user_id": user.id, "topic_id": "physics.laws_of_motion"})
    assert topic is not None and (topic.counts.quiz_right, topic.counts.quiz_wrong) == (10, 10)
    rewarded = sum(quiz.QUIZ_XP[q.difficulty] for i, q in enumerate(questions) if i % 2 == 0)
    events = await XpEvent.find({"user_id": user.id, "source": "quiz"}).to_list()
    assert sum(e.amount for e in events) == rewarded
    progress = await Progress.find_one({"user_id": user.id})
    assert progress is not None and progress.quiz_correct == 10


# ---- for GET /progress/me -------------------------------------------------------------------
async def test_topics_and_reviews_due(api: Api, bank: dict[str, Question]) -> None:
    me = await api.register(exam="JEE")
    other = await api.register(exam="JEE")
    user = await _user(me)
    assert user.id is not None
    await _answered(api, me, bank["vec-e"])
    await _answered(api, me, bank["mole-e"], right=False)
    await _answered(api, other, bank["kin-e"])

    topics = await quiz.topics_for(user.id)
    assert [(t.topic_id, t.name, t.subject, t.mastery, t.level) for t in topics] == [
        ("chemistry.mole_concept", "Mole Concept", "chemistry", 0.0, "attempted"),
        ("physics.vectors", "Scalars and Vectors", "physics", 8.0, "attempted"),
    ]
    now = utcnow()
    assert await quiz.reviews_due(user.id, now) == 0
    # A miss comes back the next day, a first right answer a day later.
    assert await quiz.reviews_due(user.id, now + timedelta(hours=23)) == 0
    assert await quiz.reviews_due(user.id, now + timedelta(hours=25)) == 1
    assert await quiz.reviews_due(user.id, now + timedelta(hours=49)) == 2
    assert await quiz.topics_for(PydanticObjectId()) == []
