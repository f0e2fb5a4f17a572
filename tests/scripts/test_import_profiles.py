"""`import_profiles`: legacy files become users with memory and history, idempotently."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from beanie import PydanticObjectId, init_beanie
from pydantic import SecretStr
from pymongo.asynchronous.database import AsyncDatabase

from models import (
    DOCUMENT_MODELS,
    AuditLog,
    Conversation,
    LearnerTopic,
    Message,
    PasswordResetToken,
    Profile,
    User,
)
from scripts import import_profiles
from server.auth import service as auth_service
from server.auth.passwords import Passwords
from server.auth.schemas import LoginRequest
from server.auth.throttle import LoginThrottle, limits_storage
from server.auth.tokens import hash_token
from server.config import Settings
from server.errors import Unauthorized
from server.jobs import build_job_queue
from server.mail import service as mail_service
from server.memory import service as memory
from server.memory.taxonomy import load_taxonomy
from server.users import service as users_service
from tests.mail.smtp import Inbox, body_text, smtp_inbox
from tests.scripts.conftest import Run, collection_counts

__all__ = ["smtp_inbox"]  # the fixture, for this module

RAVI: dict[str, Any] = {
    "user_id": "user_123",
    "name": "Ravi",
    "exam": "JEE",
    "coaching": "Allen",
    "weak_topics": ["Rotational Motion", "Physics", "basket weaving"],
    "history": [
        {
            "role": "user",
            "content": "I don't understand torque",
            "timestamp": "2024-05-01T10:00:00",
        },
        {"role": "assistant", "content": "Torque is r x F, the turning effect of a force."},
        {"role": "user", "content": "And what is angular momentum?"},
        {"role": "assistant", "content": "L = I w for a rigid body."},
    ],
    "last_seen": "ignored",
}
MEENA = {"user_id": "user_456", "name": "Meena", "exam": "NEET", "weak_topics": ["mitosis"]}
INVALID = {
    "bad_json.json": "{not json",
    "blank_id.json": json.dumps({"user_id": "  ", "name": "Blank Id"}),
    "wrong_types.json": json.dumps({"user_id": "user_9", "weak_topics": "Physics"}),
    "bad_role.json": json.dumps(
        {"user_id": "user_8", "history": [{"role": "system", "content": "x"}]}
    ),
    "not_object.json": json.dumps([RAVI]),
    "zz_duplicate.json": json.dumps({"user_id": "user_123", "name": "Ravi again"}),
    # No user_id: the file name gives it, which ravi.json already has.
    "user_123.json": json.dumps({"name": "Ravi by file name"}),
}


@pytest.fixture(scope="module")
def legacy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("legacy")
    (directory / "ravi.json").write_text(json.dumps(RAVI))
    (directory / "meena.json").write_text(json.dumps(MEENA))
    (directory / "notes.txt").write_text("not a profile")
    for name, text in INVALID.items():
        (directory / name).write_text(text)
    return directory


def _invalid(summary: Any) -> dict[str, str]:
    return {n.name: n.reason for n in summary.notes if n.outcome == "invalid"}


async def test_dry_run_writes_nothing(
    run_script: Run, db: AsyncDatabase[Any], legacy_dir: Path
) -> None:
    before = await collection_counts(db)
    summary = await run_script(import_profiles, str(legacy_dir), "--dry-run")
    assert summary.rows["profiles"].created == 2
    assert summary.rows["messages"].created == 4
    assert set(_invalid(summary)) == set(INVALID)
    assert await collection_counts(db) == before


async def test_import_then_rerun_changes_nothing(
    run_script: Run, db: AsyncDatabase[Any], legacy_dir: Path
) -> None:
    summary = await run_script(import_profiles, str(legacy_dir))
    assert not summary.ok  # invalid files make the run fail (exit 1), the valid ones import
    assert summary.rows["profiles"].created == 2
    assert summary.rows["profiles"].invalid == len(INVALID)
    reasons = _invalid(summary)
    assert "not valid JSON" in reasons["bad_json.json"]
    assert "user_id" in reasons["blank_id.json"]
    assert "weak_topics" in reasons["wrong_types.json"]
    assert "history.0.role" in reasons["bad_role.json"]
    assert "JSON object" in reasons["not_object.json"]
    assert "duplicate user_id (also in ravi.json)" in reasons["zz_duplicate.json"]
    assert "duplicate user_id (also in ravi.json)" in reasons["user_123.json"]
    assert any("basket weaving" in n.reason for n in summary.notes if n.outcome == "skipped")

    ravi = await User.find_one({"legacy_id": "user_123"})
    assert ravi is not None and ravi.id is not None
    assert ravi.password_hash is None and ravi.role == "learner"
    assert ravi.email.endswith("@legacy.starguide.invalid")
    assert ravi.profile.display_name == "Ravi" and ravi.profile.coaching == "Allen"
    weak = await memory.weak_topics(ravi.id, limit=100)
    assert weak[0].topic_id == "physics.rotational_motion" and weak[0].score == pytest.approx(1)
    physics = {t.id for t in load_taxonomy().topics_of("physics")}
    assert {w.topic_id for w in weak} == physics  # the subject: all its topics, weaker
    assert all(w.score == pytest.approx(0.6) for w in weak[1:])
    meena = await User.find_one({"legacy_id": "user_456"})
    assert meena is not None
    assert [w.topic_id for w in await memory.weak_topics(meena.id)] == ["biology.cell_division"]

    [conversation] = await Conversation.find({"user_id": ravi.id}).to_list()
    assert conversation.title == "Imported history"
    messages = await Message.find({"conversation_id": conversation.id}).sort("created_at").to_list()
    assert [m.content for m in messages] == [t["content"] for t in RAVI["history"]]
    assert [m.client_message_id for m in messages] == [f"legacy:{n}" for n in range(4)]
    assert conversation.message_count == 4
    assert conversation.last_message_at == messages[-1].created_at
    assert messages[0].topics and messages[0].topics[0].id == "physics.rotational_motion"
    assert messages[1].parent_id == messages[0].id and not messages[1].topics
    assert await Conversation.find({"user_id": meena.id}).count() == 0
    audit = await AuditLog.find({"action": "legacy.import_profiles"}).to_list()
    assert len(audit) == 1 and audit[0].details["created"] == 2

    before = await collection_counts(db)
    again = await run_script(import_profiles, str(legacy_dir))
    assert again.changed == 0
    assert again.rows["profiles"].unchanged == 2
    assert again.rows["messages"].unchanged == 4
    assert again.rows["weak topics"].unchanged == summary.rows["weak topics"].created
    before["audit_log"] += 1  # one entry per run, counts only
    assert await collection_counts(db) == before


async def test_a_longer_history_only_appends(
    run_script: Run, tmp_path: Path, legacy_dir: Path
) -> None:
    longer = dict(RAVI, history=[*RAVI["history"], {"role": "user", "content": "Thanks!"}])
    (tmp_path / "ravi.json").write_text(json.dumps(longer))
    summary = await run_script(import_profiles, str(tmp_path))
    assert summary.ok
    assert summary.rows["profiles"].updated == 1
    assert summary.rows["messages"].created == 1 and summary.rows["messages"].unchanged == 4
    ravi = await User.find_one({"legacy_id": "user_123"})
    assert ravi is not None
    [conversation] = await Conversation.find({"user_id": ravi.id}).to_list()
    messages = await Message.find({"conversation_id": conversation.id}).sort("created_at").to_list()
    assert [m.content for m in messages][-1] == "Thanks!" and conversation.message_count == 5
    assert await LearnerTopic.find({"user_id": ravi.id, "counts.declared": {"$gt": 1}}).count() == 0


async def test_a_file_without_user_id_takes_its_file_name(
    run_script: Run, db: AsyncDatabase[Any], tmp_path: Path
) -> None:
    """The old bot saved `profiles/<user_id>.json` without a `user_id` field (contract, Admin
    scripts); a numeric id is the same id as its text."""
    old_bot = {
        "name": "Kabir",
        "exam": "UPSC",
        "history": [{"role": "user", "content": "Explain the Preamble"}],
    }
    (tmp_path / "user_789.json").write_text(json.dumps(old_bot))
    (tmp_path / "user_790.json").write_text(json.dumps({"user_id": None, "name": "Null"}))
    (tmp_path / "tg.json").write_text(json.dumps({"user_id": 424242, "name": "Numeric"}))
    (tmp_path / "424242.json").write_text(json.dumps({"name": "Same id, by file name"}))
    summary = await run_script(import_profiles, str(tmp_path))
    assert summary.rows["profiles"].created == 3, summary.notes
    assert _invalid(summary) == {"tg.json": "duplicate user_id (also in 424242.json)"}
    kabir = await User.find_one({"legacy_id": "user_789"})
    assert kabir is not None and kabir.profile.display_name == "Kabir"
    assert kabir.profile.exam == "UPSC" and kabir.password_hash is None
    [conversation] = await Conversation.find({"user_id": kabir.id}).to_list()
    assert conversation.message_count == 1
    assert await User.find_one({"legacy_id": "user_790"}) is not None
    numeric = await User.find_one({"legacy_id": "424242"})
    assert numeric is not None and numeric.profile.display_name == "Same id, by file name"
    before = await collection_counts(db)
    (tmp_path / "tg.json").unlink()
    again = await run_script(import_profiles, str(tmp_path))
    assert again.ok and again.changed == 0 and again.rows["profiles"].unchanged == 3
    before["audit_log"] += 1
    assert await collection_counts(db) == before


async def test_an_imported_user_cannot_log_in(script_settings: Settings) -> None:
    ravi = await User.find_one({"legacy_id": "user_123"})
    assert ravi is not None
    state: Any = SimpleNamespace(
        login_throttle=LoginThrottle(
            storage=limits_storage(None), max_failures=5, lock_seconds=300
        ),
        passwords=Passwords(
            memory_kib=script_settings.argon2_memory_kib,
            time_cost=script_settings.argon2_time_cost,
            parallelism=script_settings.argon2_parallelism,
        ),
    )
    for password in ("", "user_123", "correct horse battery"):
        body = LoginRequest.model_construct(email=ravi.email, password=password)
        with pytest.raises(Unauthorized):
            await auth_service.login(state=state, body=body)


async def test_exit_codes(script_settings: Settings, legacy_dir: Path, tmp_path: Path) -> None:
    def main(*argv: str) -> int:
        return import_profiles.main(list(argv), settings=script_settings)

    # In a thread: main runs its own event loop, as `python -m` does.
    assert await asyncio.to_thread(main, str(legacy_dir), "--dry-run") == 1  # invalid files
    assert await asyncio.to_thread(main, str(tmp_path / "missing")) == 2
    assert await asyncio.to_thread(main, str(tmp_path)) == 2  # no *.json files
    (tmp_path / "meena.json").write_text(json.dumps(MEENA))
    assert await asyncio.to_thread(main, str(tmp_path), "--dry-run") == 0


# --invite: claim invitations through the same service as the API, to a real SMTP server.

CLAIM_RE = re.compile(r"/claim\?token=([A-Za-z0-9_\-]+)")


def _invite_dir(base: Path, tag: str, taken_email: str | None = None) -> tuple[Path, str]:
    """Four learners: one with an email, one without, one with a broken address, and one
    whose address another account has (when `taken_email` is given)."""
    directory = base / f"invite-{tag}"
    directory.mkdir()
    email = f"{tag}-{uuid.uuid4().hex[:8]}@example.com"
    profiles = {
        "asha.json": {"user_id": f"asha_{tag}", "name": "Asha", "email": email},
        "bina.json": {"user_id": f"bina_{tag}", "name": "Bina"},
        "chitra.json": {"user_id": f"chitra_{tag}", "name": "Chitra", "email": "not-an-address"},
    }
    if taken_email is not None:
        profiles["dev.json"] = {"user_id": f"dev_{tag}", "name": "Dev", "email": taken_email}
    for name, profile in profiles.items():
        (directory / name).write_text(json.dumps(profile))
    return directory, email


async def _run_with_mail(
    settings: Settings, db: AsyncDatabase[Any], inbox: Inbox, *argv: str
) -> Any:
    args = import_profiles.build_parser().parse_args(list(argv))
    mailing = settings.model_copy(update={"smtp_url": SecretStr(inbox.url)})
    try:
        return await import_profiles.run(args, mailing)
    finally:
        await init_beanie(database=db, document_models=DOCUMENT_MODELS)


async def test_dry_run_invite_reports_and_sends_nothing(
    script_settings: Settings, db: AsyncDatabase[Any], tmp_path: Path, smtp_inbox: Inbox
) -> None:
    directory, email = _invite_dir(tmp_path, "dry")
    before = await collection_counts(db)
    summary = await _run_with_mail(
        script_settings, db, smtp_inbox, str(directory), "--dry-run", "--invite"
    )
    invitations = summary.rows["invitations"]
    assert (invitations.created, invitations.skipped) == (1, 1)
    assert "chitra.json" in {n.name for n in summary.notes if n.outcome == "skipped"}
    assert await collection_counts(db) == before
    await asyncio.sleep(0.5)
    assert smtp_inbox.to(email) == []


async def test_invite_mails_claim_links_once(
    script_settings: Settings, db: AsyncDatabase[Any], tmp_path: Path, smtp_inbox: Inbox
) -> None:
    await users_service.create_user(
        email="taken@example.com",
        password_hash=None,
        org_id=PydanticObjectId(),
        profile=Profile(display_name="Taken"),
    )
    directory, email = _invite_dir(tmp_path, "send", taken_email="taken@example.com")

    summary = await _run_with_mail(script_settings, db, smtp_inbox, str(directory), "--invite")
    invitations = summary.rows["invitations"]
    assert (invitations.created, invitations.skipped, invitations.failed) == (1, 2, 0)
    reasons = {n.name: n.reason for n in summary.notes}
    assert "email_taken" in reasons["dev.json"]
    assert "taken@example.com" not in str(summary.notes)
    # Sent before the script returned (no Redis: from the script's own process).
    assert len(smtp_inbox.to(email)) == 1
    match = CLAIM_RE.search(body_text(smtp_inbox.to(email)[0]))
    assert match
    asha = await User.find_one({"legacy_id": "asha_send"})
    assert asha is not None and asha.password_hash is None
    token = await PasswordResetToken.find_one({"token_hash": hash_token(match.group(1))})
    assert token is not None
    assert (token.user_id, token.purpose, token.email) == (asha.id, "claim", email)
    entries = await AuditLog.find({"action": "auth.claim_invite"}).to_list()
    assert [(e.target_id, e.actor_id, e.details) for e in entries] == [
        (str(asha.id), None, {"via": "import_profiles"})
    ]
    assert email not in str([e.model_dump() for e in entries])

    again = await _run_with_mail(script_settings, db, smtp_inbox, str(directory), "--invite")
    assert again.rows["invitations"].unchanged == 1
    assert again.rows["invitations"].created == 0
    await asyncio.sleep(0.5)
    assert len(smtp_inbox.to(email)) == 1


@pytest.mark.slow
async def test_invite_with_redis_queues_mail_for_the_workers(
    script_settings: Settings,
    db: AsyncDatabase[Any],
    tmp_path: Path,
    smtp_inbox: Inbox,
    redis_url: str,
) -> None:
    directory, email = _invite_dir(tmp_path, "durable")
    durable = script_settings.model_copy(update={"redis_url": redis_url})
    summary = await _run_with_mail(durable, db, smtp_inbox, str(directory), "--invite")
    assert summary.rows["invitations"].created == 1
    assert any("queued in Redis" in line for line in summary.footer)
    # The script has left; a worker (any server instance) delivers what it queued.
    worker = build_job_queue(durable, run_workers=True)
    mail_service.register_jobs(worker)
    await worker.start(
        SimpleNamespace(settings=durable.model_copy(update={"smtp_url": SecretStr(smtp_inbox.url)}))
    )
    try:
        await smtp_inbox.wait_for(email, timeout=30)
    finally:
        await worker.aclose()
