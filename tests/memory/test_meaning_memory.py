"""The learner memory learns from messages that never name their topic (issue 16): tagging by
meaning runs where messages are stored, so a confused problem statement becomes a weak topic."""

from __future__ import annotations

import pytest

from tests.chat.helpers import message_body, new_conversation
from tests.conftest import Api


@pytest.mark.parametrize(
    ("text", "topic_id"),
    [
        ("A car starts from rest at 2 m/s^2, how far in 5 s? I'm stuck", "physics.kinematics"),
        ("ATP kahan banta hai cell mein? samajh nahi aaya", "biology.respiration_plants"),
    ],
)
async def test_a_confused_problem_statement_becomes_a_weak_topic(
    api: Api, text: str, topic_id: str
) -> None:
    me = await api.register(exam="NEET")
    conv = await new_conversation(api.client, me["auth"])
    response = await api.client.post(
        f"/api/v1/conversations/{conv}/messages",
        json=message_body(text, provider="offline"),
        headers=me["auth"],
    )
    assert response.status_code == 201, response.text
    assert [t["id"] for t in response.json()["user_message"]["topics"]] == [topic_id]
    profile = await api.client.get("/api/v1/users/me", headers=me["auth"])
    weak = profile.json()["memory"]["weak_topics"]
    assert [w["topic_id"] for w in weak] == [topic_id]
    assert weak[0]["score"] == pytest.approx(1.0, abs=0.01)


async def test_small_talk_still_teaches_the_memory_nothing(api: Api) -> None:
    me = await api.register(exam="JEE")
    conv = await new_conversation(api.client, me["auth"])
    response = await api.client.post(
        f"/api/v1/conversations/{conv}/messages",
        json=message_body("good morning sir, I'm stuck today", provider="offline"),
        headers=me["auth"],
    )
    assert response.json()["user_message"]["topics"] == []
    profile = await api.client.get("/api/v1/users/me", headers=me["auth"])
    assert profile.json()["memory"]["weak_topics"] == []
