"""`seed` and `seed --demo`: everything loaded once, and a second run changes nothing."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from models import (
    Achievement,
    Conversation,
    LearnerTopic,
    Message,
    Organization,
    Progress,
    Question,
    QuizAttempt,
    StudyGroup,
    Topic,
    User,
    UserAchievement,
)
from scripts import _demo, seed
from server.auth.passwords import Passwords
from server.config import Settings
from server.memory.taxonomy import load_taxonomy
from tests.scripts.conftest import Run, collection_counts

PASSWORD = "demo-password-for-tests"


async def test_seed_loads_reference_data_once(run_script: Run, db: AsyncDatabase[Any]) -> None:
    first = await run_script(seed)
    topics = len(load_taxonomy().topics)
    assert first.rows["achievements"].created >= 20
    assert first.rows["questions"].created >= 150
    assert first.rows["topics"].created == topics
    assert await Achievement.count() == first.rows["achievements"].created
    assert await Question.count() == first.rows["questions"].created
    assert await Topic.count() == topics
    kinematics = await Topic.find_one({"topic_id": "physics.kinematics"})
    assert kinematics is not None and kinematics.exams == ["JEE", "NEET"]
    before = await collection_counts(db)

    second = await run_script(seed)
    assert second.changed == 0
    for section in ("achievements", "questions", "topics"):
        assert second.rows[section].unchanged == first.rows[section].created
    assert await collection_counts(db) == before


async def test_seed_updates_an_edited_entry(run_script: Run) -> None:
    await Topic.get_pymongo_collection().update_one(
        {"topic_id": "physics.kinematics"}, {"$set": {"name": "Old name"}}
    )
    await Achievement.get_pymongo_collection().update_one({}, {"$set": {"name": "Old badge name"}})
    summary = await run_script(seed)
    assert summary.rows["topics"].updated == 1
    assert summary.rows["achievements"].updated == 1
    topic = await Topic.find_one({"topic_id": "physics.kinematics"})
    assert topic is not None and topic.name == "Kinematics"


async def test_demo_creates_a_living_organization_once(
    run_script: Run, db: AsyncDatabase[Any], script_settings: Settings
) -> None:
    first = await run_script(seed, "--demo", "--demo-password", PASSWORD)
    assert first.ok and not first.secrets  # a given password is never printed
    org = await Organization.find_one({"slug": "demo"})
    assert org is not None
    mentor = await User.find_one({"email": _demo.MENTOR.email})
    assert mentor is not None and mentor.role == "mentor" and mentor.org_id == org.id
    learners = await User.find({"org_id": org.id, "role": "learner"}).to_list()
    assert len(learners) == 5
    group = await StudyGroup.find_one({"org_id": org.id})
    assert group is not None
    assert {m.user_id for m in group.members} == {mentor.id, *(u.id for u in learners)}
    passwords = Passwords(
        memory_kib=script_settings.argon2_memory_kib,
        time_cost=script_settings.argon2_time_cost,
        parallelism=script_settings.argon2_parallelism,
    )
    assert await passwords.verify(PASSWORD, learners[0].password_hash)
    for learner in learners:
        conversations = await Conversation.find({"user_id": learner.id}).to_list()
        assert len(conversations) == 2
        messages = await Message.find(
            {"conversation_id": {"$in": [c.id for c in conversations]}}
        ).to_list()
        assert sum(c.message_count for c in conversations) == len(messages) >= 4
        assert any(m.topics for m in messages if m.role == "user")
        progress = await Progress.find_one({"user_id": learner.id})
        assert progress is not None and progress.xp_total > 0 and progress.chat_messages >= 2
        assert await QuizAttempt.find({"user_id": learner.id}).count() == 2
        assert await LearnerTopic.find({"user_id": learner.id}).count() >= 1
        assert await UserAchievement.find({"user_id": learner.id}).count() >= 1
    before = await collection_counts(db)

    second = await run_script(seed, "--demo")
    assert second.changed == 0 and not second.secrets
    assert second.rows["learners"].unchanged == 5
    assert second.rows["messages"].unchanged == first.rows["messages"].created
    assert second.rows["xp awards"].unchanged == first.rows["xp awards"].created > 0
    assert await collection_counts(db) == before


async def test_demo_leaves_a_foreign_account_alone(run_script: Run) -> None:
    asha = await User.find_one({"email": _demo.LEARNERS[0].email})
    assert asha is not None
    other_org = await Organization(name="Elsewhere", slug="elsewhere").insert()
    assert other_org.id is not None
    await User.get_pymongo_collection().update_one(
        {"_id": asha.id}, {"$set": {"org_id": other_org.id}}
    )
    summary = await run_script(seed, "--demo")
    assert summary.changed == 0
    assert summary.rows["learners"].skipped == 1
    assert any(n.name == asha.email for n in summary.notes)


async def test_demo_generates_a_password_only_for_accounts_it_creates(
    run_script: Run, script_settings: Settings
) -> None:
    await User.find({"email": _demo.LEARNERS[3].email}).delete()
    summary = await run_script(seed, "--demo")
    assert summary.rows["learners"].created == 1
    [line] = summary.secrets
    generated = line.rsplit(" ", 1)[1]
    kabir = await User.find_one({"email": _demo.LEARNERS[3].email})
    assert kabir is not None
    passwords = Passwords(
        memory_kib=script_settings.argon2_memory_kib,
        time_cost=script_settings.argon2_time_cost,
        parallelism=script_settings.argon2_parallelism,
    )
    assert await passwords.verify(generated, kabir.password_hash)
