"""Planning: order, reasons, filtering by window/org/health/budget, and its speed."""

from __future__ import annotations

import pytest

from ai_router import (
    AIRouter,
    BudgetExceeded,
    ChatRequest,
    ChatTurn,
    ModelSpec,
    TaskType,
    Usage,
    classify_task,
)
from ai_router.pricing import cost_usd
from tests.ai_router.conftest import RouterFactory
from tests.ai_router.fakes import FakeVendors
from tests.ai_router.helpers import collect

ALL = ["openai", "anthropic", "gemini", "offline"]
PHYSICS = (
    "A block of 2 kg slides down a 30 degree incline with friction 0.2. Find its acceleration."
)


def chain(router: AIRouter, request: ChatRequest) -> list[str]:
    return [f"{c.provider}/{c.model}" for c in router.plan(request).candidates]


@pytest.mark.parametrize(
    ("message", "task"),
    [
        (PHYSICS, TaskType.STEP_BY_STEP),
        ("Integrate x^2 sin x dx step by step", TaskType.STEP_BY_STEP),
        ("Calculate the molarity of 5 g NaOH in 250 mL of solution", TaskType.STEP_BY_STEP),
        ("What is photosynthesis?", TaskType.QUICK_DOUBT),
        (
            "Critically examine the role of the Governor in Indian federalism (250 words)",
            TaskType.LONG_FORM,
        ),
        (
            "Summarise the key points of chemical equilibrium for revision",
            TaskType.REVISION_SUMMARY,
        ),
        ("Why does my python code throw a KeyError?", TaskType.CODE),
        ("```\nfor i in range(3): print(i)\n```", TaskType.CODE),
    ],
)
def test_task_classification_examples(message: str, task: TaskType) -> None:
    assert classify_task(message) is task


async def test_step_by_step_physics_plan_and_reason(make_router: RouterFactory) -> None:
    router = make_router(ALL)
    plan = router.plan(ChatRequest(message=PHYSICS))
    assert plan.task is TaskType.STEP_BY_STEP and plan.subject == "physics"
    assert chain(router, ChatRequest(message=PHYSICS)) == [
        "anthropic/claude-sonnet-4-6",
        "openai/gpt-4.1",
        "gemini/gemini-2.5-pro",
        "offline/offline-mentor-1",
    ]
    assert plan.reason.startswith(
        "step-by-step physics problem: anthropic/claude-sonnet-4-6, then openai/gpt-4.1"
    )


async def test_quick_doubt_uses_fast_models(make_router: RouterFactory) -> None:
    router = make_router(["openai", "anthropic", "gemini"])
    assert chain(router, ChatRequest(message="What is photosynthesis?")) == [
        "openai/gpt-4.1-mini",
        "gemini/gemini-2.5-flash",
        "anthropic/claude-haiku-4-5",
    ]


async def test_explicit_provider_goes_first(make_router: RouterFactory) -> None:
    router = make_router(ALL)
    req = ChatRequest(message=PHYSICS, provider="gemini", preferred_provider="openai")
    assert chain(router, req)[:2] == ["gemini/gemini-2.5-pro", "openai/gpt-4.1"]
    assert "(requested gemini)" in router.plan(req).reason


async def test_preferred_provider_goes_first(make_router: RouterFactory) -> None:
    router = make_router(ALL)
    req = ChatRequest(message=PHYSICS, preferred_provider="gemini")
    assert chain(router, req)[0] == "gemini/gemini-2.5-pro"
    assert "(preferred gemini)" in router.plan(req).reason


async def test_explicit_offline_goes_first(make_router: RouterFactory) -> None:
    router = make_router(ALL)
    assert chain(router, ChatRequest(message=PHYSICS, provider="offline"))[0] == (
        "offline/offline-mentor-1"
    )


async def test_offline_only_when_enabled(make_router: RouterFactory) -> None:
    with_offline = make_router(ALL)
    without = make_router(["openai", "anthropic"])
    assert chain(with_offline, ChatRequest(message="hi"))[-1] == "offline/offline-mentor-1"
    assert all(not c.startswith("offline") for c in chain(without, ChatRequest(message="hi")))


async def test_org_allowed_providers_filter(make_router: RouterFactory) -> None:
    router = make_router(ALL)
    req = ChatRequest(message=PHYSICS, allowed_providers=("openai", "gemini"))
    assert chain(router, req) == ["openai/gpt-4.1", "gemini/gemini-2.5-pro"]
    assert "organization allows gemini, openai" in router.plan(req).reason


async def test_context_window_excludes_small_models(make_router: RouterFactory) -> None:
    router = make_router(["openai", "anthropic", "gemini"])
    history = tuple(ChatTurn(role="user", content="x" * 40_000) for _ in range(25))  # ~250k tok
    req = ChatRequest(message=PHYSICS, history=history)
    plan = router.plan(req)
    assert [c.provider for c in plan.candidates] == ["openai", "gemini"]
    assert "anthropic excluded" in plan.reason and "window" in plan.reason


async def test_deployment_provider_list_is_respected(make_router: RouterFactory) -> None:
    router = make_router(["gemini"])
    assert chain(router, ChatRequest(message=PHYSICS, provider="openai")) == [
        "gemini/gemini-2.5-pro"
    ]


async def test_open_breaker_excluded_and_slow_provider_demoted(make_router: RouterFactory) -> None:
    router = make_router(["openai", "anthropic", "gemini"])
    router._health["anthropic"].force_open(reason="auth_failed")
    router._health["openai"].observe_latency(30.0)
    plan = router.plan(ChatRequest(message=PHYSICS))
    assert [c.provider for c in plan.candidates] == ["gemini", "openai"]
    assert "anthropic skipped: circuit open" in plan.reason
    assert "openai demoted: slow" in plan.reason


async def test_budget_refusal_before_any_call(
    fakes: FakeVendors, make_router: RouterFactory
) -> None:
    router = make_router(ALL)
    with pytest.raises(BudgetExceeded) as info:
        await collect(router, ChatRequest(message=PHYSICS, remaining_budget_usd=0.0))
    assert info.value.code == "ai_budget_exceeded"
    assert fakes.requests == []


async def test_budget_hook_refuses_before_any_call(
    fakes: FakeVendors, make_router: RouterFactory
) -> None:
    seen: list[str | None] = []

    async def hook(request: ChatRequest) -> float | None:
        seen.append(request.user_id)
        return -0.01

    router = make_router(["openai"], budget_hook=hook)
    with pytest.raises(BudgetExceeded):
        await collect(router, ChatRequest(message="hi", user_id="u1"))
    assert seen == ["u1"]
    assert fakes.requests == []


async def test_small_budget_prefers_cheaper_model_then_offline(make_router: RouterFactory) -> None:
    router = make_router(ALL)
    # Worst case for sonnet with 1024 output tokens is ~$0.0155; haiku ~$0.0052.
    req = ChatRequest(message=PHYSICS, remaining_budget_usd=0.01)
    models = chain(router, req)
    assert models[0] == "anthropic/claude-haiku-4-5"
    assert "claude-haiku-4-5 instead of claude-sonnet-4-6 for budget" in router.plan(req).reason
    tiny = ChatRequest(message=PHYSICS, remaining_budget_usd=0.000001)
    assert chain(router, tiny) == ["offline/offline-mentor-1"]


async def test_budget_too_small_for_every_paid_model(make_router: RouterFactory) -> None:
    router = make_router(["openai"])
    with pytest.raises(BudgetExceeded):
        router.plan(ChatRequest(message=PHYSICS, remaining_budget_usd=0.000001))


def test_cost_from_price_table() -> None:
    spec = ModelSpec(
        name="m",
        tier="strong",
        context_window=1000,
        input_usd_per_mtok=3.0,
        output_usd_per_mtok=15.0,
    )
    assert cost_usd(spec, Usage(input_tokens=1_000_000, output_tokens=0)) == pytest.approx(3.0)
    assert cost_usd(spec, Usage(input_tokens=2000, output_tokens=1000)) == pytest.approx(0.021)


async def test_result_cost_uses_provider_usage(
    fakes: FakeVendors, make_router: RouterFactory
) -> None:
    from tests.ai_router.fakes import Behaviour
    from tests.ai_router.helpers import finish

    fakes.script("anthropic", Behaviour(usage=(1000, 500)))
    router = make_router(["anthropic"])
    result = finish(await collect(router, ChatRequest(message=PHYSICS))).result
    assert result.model == "claude-sonnet-4-6"
    assert result.cost_usd == pytest.approx((1000 * 3.0 + 500 * 15.0) / 1e6)
