"""A learner who chats and answers quizzes, seen from every side: progress, badges, the
weekly league, and their mentor's view of the group."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from beanie import PydanticObjectId

from models import Progress, Question, User
from models.common import utcnow
from server.config import Settings
from server.quiz import service as quiz
from server.quiz.schemas import AttemptCreate
from tests.chat.helpers import message_body, new_conversation
from tests.conftest import Api, make_settings
from tests.quiz.helpers import question, replace_bank

BASE = "/api/v1"
TOPIC = "physics.laws_of_motion"
HARD = [f"hard-{i}" for i in range(6)]  # 6 right hard answers: 6 x 16 = 96 points, mastered


@pytest.fixture(scope="module")
async def app_settings(mongo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(
        mongo_url,
        tmp_path_factory.mktemp("data"),
        ai_providers="offline",
        chat_rate_limit="1000/minute",
        ai_daily_budget_usd=None,
    )


@pytest.fixture(scope="module")
async def bank(app: Any) -> dict[str, Question]:
    return await replace_bank(
        [
            *(question(key, TOPIC, difficulty="hard", exams=["JEE"]) for key in HARD),
            question("vec-e", "physics.vectors", difficulty="easy", exams=["JEE"]),
        ]
    )


async def _get(api: Api, path: str, auth: dict[str, str]) -> dict[str, Any]:
    response = await api.client.get(f"{BASE}{path}", headers=auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_chat_and_quizzes_show_up_everywhere_and_stay_exact(
    api: Api, app: Any, bank: dict[str, Question]
) -> None:
    mentor = await api.register(display_name="Mentor")
    await User.find_one(User.id == PydanticObjectId(mentor["user"]["id"])).update(
        {"$set": {"role": "mentor"}}
    )
    group = await api.client.post(f"{BASE}/groups", json={"name": "B"}, headers=mentor["auth"])
    invite = group.json()["invite_code"]
    me = await api.register(display_name="Kabir", exam="JEE")
    joined = await api.client.post(
        f"{BASE}/groups/join", json={"invite_code": invite}, headers=me["auth"]
    )
    assert joined.status_code == 200
    conversation = await new_conversation(api.client, me["auth"])
    sent = await api.client.post(
        f"{BASE}/conversations/{conversation}/messages",
        json=message_body("What is Newton's third law?", provider="offline"),
        headers=me["auth"],
    )
    assert sent.status_code == 201
    await app.state.ctx.progress.drain()

    for key in HARD:
        body = {"question_id": str(bank[key].id), "option": bank[key].answer}
        answered = await api.client.post(f"{BASE}/quiz/attempts", json=body, headers=me["auth"])
        assert answered.status_code == 201, answered.text
    assert answered.json()["mastery"]["after"] == {"points": 96, "level": "mastered"}
    vec = bank["vec-e"]
    wrong = {"question_id": str(vec.id), "option": (vec.answer + 1) % 4}
    assert (
        await api.client.post(f"{BASE}/quiz/attempts", json=wrong, headers=me["auth"])
    ).is_success

    progress = await _get(api, "/progress/me", me["auth"])
    user_id = PydanticObjectId(me["user"]["id"])
    assert progress["xp"] == await app.state.ctx.progress.ledger_total(user_id=user_id)
    assert progress["xp_this_week"] == progress["xp"] > 60
    assert progress["streak"]["current"] == 1
    assert [(t["topic_id"], t["mastery"], t["level"]) for t in progress["topics"]] == [
        ("physics.vectors", 0.0, "attempted"),
        (TOPIC, 96.0, "mastered"),
    ]
    assert progress["reviews_due"] == 0  # both come back in a day or more
    assert any(w["topic_id"] == "physics.vectors" for w in progress["weak_topics"])

    badges = await _get(api, "/achievements", me["auth"])
    earned = {a["code"] for a in badges["items"] if a["earned_at"]}
    assert {"first_question", "quiz_first_right", "topic_mastered_1", "goal_getter"} <= earned

    league = await _get(api, "/leaderboard", me["auth"])
    assert league["me"] == {"rank": 1, "xp": progress["xp"]}
    assert league["items"][0]["display_name"] == "Kabir"
    group_league = await _get(
        api, f"/leaderboard?scope=group&group_id={group.json()['id']}", me["auth"]
    )
    assert [(e["display_name"], e["xp"]) for e in group_league["items"]] == [
        ("Kabir", progress["xp"]),
        ("Mentor", 0),
    ]

    view = await _get(api, f"/groups/{group.json()['id']}/progress", mentor["auth"])
    kabir = next(m for m in view["items"] if m["user_id"] == me["user"]["id"])
    assert kabir["progress"]["topics"] == progress["topics"]

    # Two days later the topic is due; missed twice it drops below mastered, then comes back:
    # "topics mastered" counted it once.
    user = await User.get(user_id)
    assert user is not None
    later = utcnow() + timedelta(days=3)
    assert (await _get(api, "/progress/me", me["auth"]))["reviews_due"] == 0
    assert await quiz.reviews_due(user_id, later) == 2
    picked, reason = await quiz.pick(user=user, now=later)
    assert (picked.topic_id, reason) == ("physics.vectors", "review_due")  # the earliest due
    levels = []
    for n, key in enumerate(HARD[:4]):
        q = bank[key]
        option = q.answer if n >= 2 else (q.answer + 1) % 4
        result = await quiz.answer(
            user=user,
            body=AttemptCreate(question_id=str(q.id), option=option),
            progress=app.state.ctx.progress,
            now=later,
        )
        levels.append((result.mastery.after.points, result.mastery.after.level))
    # 96 - 5 - 5 = 86 drops to proficient; two right hard answers (+16 each) cap at 100.
    assert levels == [(91, "mastered"), (86, "proficient"), (100, "mastered"), (100, "mastered")]
    totals = await Progress.find_one({"user_id": user_id})
    assert totals is not None and (totals.topics_mastered, totals.quiz_correct) == (1, 8)
