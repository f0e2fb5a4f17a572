"""The privacy registry: every collection is covered by the features' own steps, the steps run
in the documented order, and a registration that cannot work fails loudly."""

from __future__ import annotations

from typing import Any

import pytest
from beanie import PydanticObjectId

from models import DOCUMENT_MODELS, AuditLog, LearnerTopic, User
from server.app import PRIVACY_STEPS, privacy_registry
from server.memory import privacy as memory_privacy
from server.privacy.registry import (
    ErasureContext,
    Fact,
    Facts,
    PrivacyContext,
    PrivacyRegistry,
    RegistryError,
)


def _user() -> User:
    return User.model_construct(id=PydanticObjectId(), email="a@example.com")


def test_every_collection_has_an_export_and_an_erasure_step() -> None:
    """A new collection fails here until its feature registers steps for it (or says out
    loud, with a reason, that it holds nothing about a person)."""
    registry = privacy_registry()
    assert registry.uncovered(DOCUMENT_MODELS) == {"export": [], "erase": []}
    # Only the audit log is kept on erasure, and only catalogs are declared impersonal.
    assert set(registry.kept()) == {AuditLog}
    assert {m.__name__ for m in registry.impersonal()} == {
        "Organization",
        "Achievement",
        "Question",
        "Topic",
    }
    assert all(why for why in [*registry.kept().values(), *registry.impersonal().values()])


def test_a_feature_that_forgets_to_register_is_caught() -> None:
    registry = PrivacyRegistry()
    for register in PRIVACY_STEPS:
        if register is not memory_privacy.register_privacy_steps:
            register(registry)
    missing = registry.uncovered(DOCUMENT_MODELS)
    assert missing == {"export": ["LearnerTopic"], "erase": ["LearnerTopic"]}
    assert LearnerTopic.__name__ in missing["export"]


def test_the_apps_steps_keep_the_documented_order() -> None:
    registry = privacy_registry()
    assert [s.name for s in registry.export_steps()] == [
        "user",
        "memory",
        "conversations",
        "progress",
        "achievements",
        "quiz",
        "xp_events",
        "documents",
        "mock_tests",
        "assignments",
        "ai_usage",
        "study_groups",
        "sessions",
        "reset_requests",
        "sso_identities",
        "audit",
    ]
    steps = registry.erase_steps()
    assert [s.name for s in steps] == [
        "users.disable",
        "conversations.scope",
        "chat.abort_replies",
        "progress.settle",
        "leaderboard.boards",
        "realtime.recent_replies",
        "conversations.messages",
        "conversations.delete",
        "chat.stop_conversations",
        "practice.unsign_assignments",
        "groups.leave",
        "conversations.leave",
        "memory.delete",
        "progress.delete",
        "quiz.delete",
        "library.delete",
        "practice.delete_tests",
        "auth.delete",
        "auth.delete_password_resets",
        "auth.delete_identities",
        "usage.pseudonymise",
        "leaderboard.forget",
        "chat.send_limits",
        "auth.login_throttle",
        "auth.reset_address_limit",
        "realtime.replay_streams",
        "realtime.presence",
        "realtime.socket_slots",
        "users.delete",
        "progress.settle_late",
    ]
    # The second pass, for late writers, once the account is gone.
    assert [s.name for s in steps if s.again] == [
        "memory.delete",
        "progress.delete",
        "quiz.delete",
        "library.delete",
        "practice.delete_tests",
        "auth.delete",
        "auth.delete_password_resets",
        "auth.delete_identities",
        "usage.pseudonymise",
        "leaderboard.forget",
    ]


async def _noop(ctx: Any) -> None:
    return None


def test_steps_run_by_phase_then_registration_order_moved_by_after_and_before() -> None:
    registry = PrivacyRegistry()
    registry.register_erase("c", _noop, phase="account")
    registry.register_erase("a", _noop, phase="content", after=("b",))
    registry.register_erase("b", _noop, phase="content")
    registry.register_erase("d", _noop, phase="content", before=("b",))
    registry.register_erase("e", _noop, phase="disable")
    assert [s.name for s in registry.erase_steps()] == ["e", "d", "b", "a", "c"]
    registry.register_export("x", _noop, collections=(), after=("y",))
    registry.register_export("y", _noop, collections=())
    registry.register_export("z", _noop, collections=())
    assert [s.name for s in registry.export_steps()] == ["y", "x", "z"]


@pytest.mark.parametrize(
    "build",
    [
        lambda r: r.register_erase("a", _noop, phase="someday"),
        lambda r: (
            r.register_erase("a", _noop, phase="redis"),
            r.register_erase("a", _noop, phase="redis"),
        ),
        lambda r: r.register_erase("a", _noop, phase="redis", after=("nowhere",)),
        lambda r: (
            r.register_erase("a", _noop, phase="redis", after=("b",)),
            r.register_erase("b", _noop, phase="redis", after=("a",)),
        ),
        # A step cannot wait for one in a later phase.
        lambda r: (
            r.register_erase("a", _noop, phase="disable", after=("b",)),
            r.register_erase("b", _noop, phase="account"),
        ),
        lambda r: r.register_export("x", _noop, collections=(), after=("nowhere",)),
        lambda r: (r.provide(Fact[int]("f"), _noop), r.provide(Fact[int]("f"), _noop)),
    ],
    ids=["phase", "duplicate", "unknown", "circle", "later-phase", "export-unknown", "provider"],
)
def test_a_registration_that_cannot_work_fails_loudly(build: Any) -> None:
    registry = PrivacyRegistry()
    with pytest.raises(RegistryError):
        build(registry)
        registry.validate()


async def test_a_fact_is_computed_once_and_one_nobody_provides_is_an_error() -> None:
    calls: list[int] = []
    known, unknown = Fact[int]("known"), Fact[int]("unknown")

    async def provide(ctx: PrivacyContext) -> int:
        calls.append(1)
        return 42

    user = _user()
    assert user.id is not None
    ctx = ErasureContext(user=user, user_id=user.id, state=None, report=None)  # type: ignore[arg-type]
    ctx.facts = Facts(ctx, {known.name: provide})
    assert await ctx.facts.get(known) == 42 and await ctx.facts.get(known) == 42
    assert calls == [1]
    with pytest.raises(LookupError, match="unknown"):
        await ctx.facts.get(unknown)
    ctx.facts.put(unknown, 7)
    assert await ctx.facts.get(unknown) == 7
