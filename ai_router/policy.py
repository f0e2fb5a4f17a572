"""Planning: which (provider, model) candidates to try, in order, and why. Pure, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from ai_router.config import OFFLINE, ModelSpec, RouterConfig, Tier
from ai_router.errors import BudgetExceeded
from ai_router.health import ProviderHealth
from ai_router.pricing import CHARS_PER_TOKEN, worst_case_cost_usd
from ai_router.request import ChatRequest
from ai_router.tasks import TaskType, classify
from ai_router.topics import SUBJECT_LABELS, Subject

# Per-message framing overhead in tokens (role markers etc.).
_TURN_OVERHEAD_TOKENS = 4
# Classifications remembered per planner (by message text); see `Planner.__init__`.
CLASSIFY_MEMO = 64


@dataclass(frozen=True, slots=True)
class Candidate:
    """One (provider, model) to try; `spec` carries its window and prices."""

    provider: str
    model: str
    spec: ModelSpec
    max_cost_usd: float


@dataclass(frozen=True, slots=True)
class Plan:
    """Ordered candidates plus the readable reason that is logged and returned."""

    candidates: tuple[Candidate, ...]
    task: TaskType
    subject: Subject | None
    reason: str
    input_tokens_estimate: int


def estimate_input_tokens(request: ChatRequest) -> int:
    chars = len(request.system_prompt) + len(request.message)
    if request.passages:  # the grounding section
        chars += sum(len(p.text) + len(p.title) + 8 for p in request.passages)
    history = request.history
    for turn in history:
        chars += len(turn.content)
    turns = len(history) + 2
    return -(-chars // CHARS_PER_TOKEN) + turns * _TURN_OVERHEAD_TOKENS


def describe_task(task: TaskType, subject: Subject | None) -> str:
    label = SUBJECT_LABELS[subject] + " " if subject else ""
    if task is TaskType.STEP_BY_STEP:
        return f"step-by-step {label}problem"
    if task is TaskType.LONG_FORM:
        return f"long-form {label}answer"
    if task is TaskType.REVISION_SUMMARY:
        return f"{label}revision summary"
    if task is TaskType.CODE:
        return "code question"
    return f"quick {label}doubt"


def _tier_order(specs: tuple[ModelSpec, ...], tier: Tier) -> tuple[ModelSpec, ...]:
    return tuple(sorted(specs, key=lambda s: (s.tier != tier, -s.context_window)))


class Planner:
    """Builds plans from config tables prepared once, so each plan costs microseconds."""

    def __init__(
        self,
        *,
        config: RouterConfig,
        enabled: tuple[str, ...],
        health: Mapping[str, ProviderHealth],
    ) -> None:
        self._cfg = config
        self._enabled = enabled
        self._enabled_set = frozenset(enabled)
        self._health = health
        self._slow_s = config.breaker.slow_ttft_s
        # The keyword scan is most of a plan's cost, and the same message is planned more than
        # once (the chat service plans to announce the model, then `stream` plans again; a
        # regenerate resends it), so the last few messages' classifications are remembered.
        # `classify` is pure: the routing is the same (issue 20).
        self._classify = lru_cache(maxsize=CLASSIFY_MEMO)(classify)
        self._by_tier: dict[tuple[str, Tier], tuple[ModelSpec, ...]] = {}
        for provider, specs in config.models.items():
            for tier in ("strong", "fast"):
                # Wanted tier first, then the others by window (largest first) as alternates.
                self._by_tier[(provider, tier)] = _tier_order(specs, tier)
        # Per task: each provider's tier, the default tier and the provider order. They only
        # depend on the config, so they are worked out once, not per plan (issue 20).
        self._task_orders: dict[TaskType, tuple[dict[str, Tier], Tier, tuple[str, ...]]] = {}
        for task in TaskType:
            route = config.task_routes.get(task, ())
            tiers: dict[str, Tier] = {}
            for provider, tier in route:
                tiers.setdefault(provider, tier)
            order = [p for p, _ in route]
            order.extend(p for p in enabled if p not in tiers and p != OFFLINE)
            default_tier: Tier = route[0][1] if route else "strong"
            self._task_orders[task] = (tiers, default_tier, tuple(order))

    def allowed(self, allowed_providers: tuple[str, ...] | None) -> frozenset[str]:
        """Providers a request may use: enabled here and, when given, allowed by its
        organization (the one rule for planning and for refusing a pinned provider)."""
        if allowed_providers is None:
            return self._enabled_set
        return self._enabled_set.intersection(allowed_providers)

    def plan(self, request: ChatRequest) -> Plan:
        """Ordered candidates for `request`; raises BudgetExceeded when no budget is left."""
        budget = request.remaining_budget_usd
        if budget is not None and budget <= 0:
            raise BudgetExceeded("the daily AI budget is used up")
        if request.task_hint is not None:
            task, subject = request.task_hint, self._classify(request.message).subject
        else:
            c = self._classify(request.message)
            task, subject = c.task, c.subject
        notes: list[str] = []
        allowed = self.allowed(request.allowed_providers)
        if request.allowed_providers is not None:
            notes.append(f"organization allows {', '.join(sorted(allowed)) or 'nothing'}")
        tiers, default_tier, order = self._task_orders[task]

        explicit, preferred = request.provider, request.preferred_provider
        if explicit and explicit not in allowed:
            notes.append(f"requested provider {explicit} not available")
        if preferred and preferred not in allowed and preferred != explicit:
            notes.append(f"preferred provider {preferred} not available")

        ranked: list[tuple[int, int, int, str]] = []
        for index, provider in enumerate(order):
            if provider not in allowed or provider == OFFLINE:
                continue
            health = self._health.get(provider)
            demotion = 0
            if health is not None:
                state = health.state
                if state == "open":
                    notes.append(f"{provider} skipped: circuit open")
                    continue
                if state == "half_open":
                    demotion = 2
                elif health.latency_ewma_s is not None and health.latency_ewma_s > self._slow_s:
                    demotion = 1
                    notes.append(f"{provider} demoted: slow ({health.latency_ewma_s:.1f}s TTFT)")
            pin = 0 if provider == explicit else 1 if provider == preferred else 2
            ranked.append((pin, demotion, index, provider))
        ranked.sort()

        input_tokens = estimate_input_tokens(request)
        needed = input_tokens + request.max_tokens
        candidates: list[Candidate] = []
        for _, _, _, provider in ranked:
            spec = self._pick_model(
                provider,
                tiers.get(provider, default_tier),
                needed,
                notes,
                input_tokens,
                request.max_tokens,
                budget,
            )
            if spec is not None:
                cost = worst_case_cost_usd(
                    spec, input_tokens=input_tokens, max_tokens=request.max_tokens
                )
                candidates.append(Candidate(provider, spec.name, spec, cost))
        if OFFLINE in allowed:
            offline = self._cfg.models.get(OFFLINE)
            if offline:
                cand = Candidate(OFFLINE, offline[0].name, offline[0], 0.0)
                if explicit == OFFLINE:
                    candidates.insert(0, cand)
                else:
                    candidates.append(cand)
        if budget is not None and not candidates and ranked:
            raise BudgetExceeded("the remaining AI budget cannot cover this request")

        pinned = ""
        if explicit and explicit in allowed:
            pinned = f" (requested {explicit})"
        elif preferred and preferred in allowed:
            pinned = f" (preferred {preferred})"
        chain = ", then ".join(f"{c.provider}/{c.model}" for c in candidates) or "no candidate"
        reason = f"{describe_task(task, subject)}{pinned}: {chain}"
        if notes:
            reason += "; " + "; ".join(notes)
        return Plan(tuple(candidates), task, subject, reason, input_tokens)

    def _pick_model(
        self,
        provider: str,
        tier: Tier,
        needed: int,
        notes: list[str],
        input_tokens: int,
        max_tokens: int,
        budget: float | None,
    ) -> ModelSpec | None:
        specs = self._by_tier.get((provider, tier), ())
        fits = [s for s in specs if s.context_window >= needed]
        if not fits:
            if specs:
                notes.append(
                    f"{provider} excluded: {needed} tokens exceed its "
                    f"{max(s.context_window for s in specs)}-token window"
                )
            return None
        if budget is None:
            return fits[0]
        for spec in fits:
            cost = worst_case_cost_usd(spec, input_tokens=input_tokens, max_tokens=max_tokens)
            if cost <= budget:
                if spec is not fits[0]:
                    notes.append(f"{provider}: {spec.name} instead of {fits[0].name} for budget")
                return spec
        notes.append(f"{provider} excluded: over the remaining budget (${budget:.4f})")
        return None
