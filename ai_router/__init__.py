"""StarGuide AI router: one streaming interface over OpenAI, Anthropic, Gemini and an offline
mentor, with planning, timeouts, retries, circuit breakers and mid-stream failover.

A library: it imports nothing from the server. See docs/AI_ROUTER.md.
"""

from ai_router.config import (
    BreakerConfig,
    ModelSpec,
    RetryConfig,
    RouterConfig,
    TimeoutConfig,
    resolve_providers,
)
from ai_router.errors import AIUnavailable, BudgetExceeded, ProviderError, RouterError
from ai_router.events import Finish, StreamEvent, TextDelta, TextReset, UsageEvent
from ai_router.health import HealthSnapshot
from ai_router.policy import Candidate, Plan
from ai_router.request import (
    ChatRequest,
    ChatTurn,
    GroundingPassage,
    PracticeQuestion,
    grounding_prompt,
)
from ai_router.results import Attempt, ChatResult, FinishReason, Usage
from ai_router.router import AIRouter, BudgetHook
from ai_router.tasks import TaskType, classify_task

__all__ = [
    "AIRouter",
    "AIUnavailable",
    "Attempt",
    "BreakerConfig",
    "BudgetExceeded",
    "BudgetHook",
    "Candidate",
    "ChatRequest",
    "ChatResult",
    "ChatTurn",
    "Finish",
    "FinishReason",
    "GroundingPassage",
    "HealthSnapshot",
    "ModelSpec",
    "Plan",
    "PracticeQuestion",
    "ProviderError",
    "RetryConfig",
    "RouterConfig",
    "RouterError",
    "StreamEvent",
    "TaskType",
    "TextDelta",
    "TextReset",
    "TimeoutConfig",
    "Usage",
    "UsageEvent",
    "classify_task",
    "grounding_prompt",
    "resolve_providers",
]
