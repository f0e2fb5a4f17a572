"""Token estimates and cost from the price table."""

from __future__ import annotations

from ai_router.config import ModelSpec
from ai_router.results import Usage

# ~4 characters per token for English text; only used when a provider reports no usage.
CHARS_PER_TOKEN = 4


def estimate_tokens(text_chars: int) -> int:
    """Rough token count from a character count (ceil)."""
    return -(-text_chars // CHARS_PER_TOKEN)


def cost_usd(spec: ModelSpec, usage: Usage) -> float:
    """Cost of `usage` at `spec`'s per-million-token prices."""
    return (
        usage.input_tokens * spec.input_usd_per_mtok
        + usage.output_tokens * spec.output_usd_per_mtok
    ) / 1_000_000


def worst_case_cost_usd(spec: ModelSpec, *, input_tokens: int, max_tokens: int) -> float:
    """Upper bound used when planning against a remaining budget."""
    return cost_usd(spec, Usage(input_tokens=input_tokens, output_tokens=max_tokens))
