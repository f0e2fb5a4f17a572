"""What the mentor is told: character, learner memory, history within a token budget."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from beanie import PydanticObjectId

from models import Conversation, Message, Profile, TopicRef, User
from models.common import utcnow
from server.chat.context import build_context, estimate_tokens, make_title
from server.memory.service import WeakTopicView
from server.memory.taxonomy import load_taxonomy


def _user() -> User:
    return User(
        email="a@example.com",
        org_id=PydanticObjectId(),
        profile=Profile(display_name="Ravi", exam="JEE", coaching="Allen", grade="12"),
    )


def _thread(pairs: int, size: int = 400) -> list[Message]:
    """`pairs` exchanges, returned newest first as the store returns them."""
    conv = PydanticObjectId()
    start = utcnow() - timedelta(hours=1)
    out: list[Message] = []
    for i in range(pairs):
        q = Message(
            id=PydanticObjectId(),
            conversation_id=conv,
            role="user",
            content=f"question {i} " + "q" * size,
            topics=[TopicRef(id="physics.kinematics", name="Kinematics", subject="physics")],
            created_at=start + timedelta(seconds=2 * i),
        )
        a = Message(
            id=PydanticObjectId(),
            conversation_id=conv,
            role="assistant",
            content=f"answer {i} " + "a" * size,
            parent_id=q.id,
            created_at=start + timedelta(seconds=2 * i + 1),
        )
        out += [q, a]
    out.reverse()
    return out


def test_everything_fits_in_a_short_conversation(app: Any) -> None:
    recent = _thread(2)
    context = build_context(
        user=_user(),
        conversation=Conversation(user_id=PydanticObjectId(), org_id=PydanticObjectId()),
        taxonomy=load_taxonomy(),
        weak=[],
        recent=recent,
        token_budget=3000,
    )
    assert [t.role for t in context.history] == ["user", "assistant"] * 2
    assert context.history[0].content.startswith("question 0")
    assert context.dropped_turns == 0
    assert "Socratic" in context.system_prompt
    assert "JEE" in context.system_prompt and "Allen" in context.system_prompt
    assert "Summary" not in context.system_prompt
    assert len(context.earlier_topics) == 2


def test_oldest_turns_are_dropped_first_and_summarised(app: Any) -> None:
    recent = _thread(10)
    conversation = Conversation(
        user_id=PydanticObjectId(),
        org_id=PydanticObjectId(),
        message_count=21,
        topics_seen={"physics": {"kinematics": 10}},
    )
    budget = 4 * estimate_tokens("question 0 " + "q" * 400)
    context = build_context(
        user=_user(),
        conversation=conversation,
        taxonomy=load_taxonomy(),
        weak=[
            WeakTopicView(
                topic_id="physics.kinematics",
                name="Kinematics",
                subject="physics",
                score=1.4,
                updated_at=utcnow(),
            )
        ],
        recent=recent,
        token_budget=budget,
    )
    assert [t.content.split()[0:2] for t in context.history] == [
        ["question", "8"],
        ["answer", "8"],
        ["question", "9"],
        ["answer", "9"],
    ]
    assert context.dropped_turns == 16
    assert "Summary of the earlier conversation" in context.system_prompt
    assert '"question 7' in context.system_prompt and "Kinematics (10x)" in context.system_prompt
    assert "Kinematics (physics, weakness 1.4)" in context.system_prompt


def test_only_the_newest_complete_reply_of_each_question_is_shown(app: Any) -> None:
    recent = list(reversed(_thread(1)))  # oldest first for editing
    question = recent[0]
    failed = Message(
        id=PydanticObjectId(),
        conversation_id=question.conversation_id,
        role="assistant",
        content="partial",
        status="failed",
        parent_id=question.id,
        created_at=utcnow(),
    )
    newer = Message(
        id=PydanticObjectId(),
        conversation_id=question.conversation_id,
        role="assistant",
        content="regenerated answer",
        parent_id=question.id,
        created_at=utcnow() - timedelta(minutes=1),
    )
    context = build_context(
        user=_user(),
        conversation=Conversation(user_id=PydanticObjectId(), org_id=PydanticObjectId()),
        taxonomy=load_taxonomy(),
        weak=[],
        recent=[failed, newer, recent[1], question],
        token_budget=3000,
    )
    assert [t.content for t in context.history][1] == "regenerated answer"


def test_titles_come_from_the_first_sentence_cut_at_a_word() -> None:
    assert make_title("How do I find the range of a projectile? I tried twice.") == (
        "How do I find the range of a projectile?"
    )
    long = make_title("word " * 40)
    assert len(long) <= 60 and long.endswith("…") and "  " not in long
    assert make_title("   ") == "New conversation"
