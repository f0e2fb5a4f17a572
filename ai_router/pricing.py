"""Token estimates, the plausibility check on reported usage, the reply length cap, and cost."""

from __future__ import annotations

from ai_router.config import ModelSpec
from ai_router.results import Usage

# ~4 characters per token for English text; used when a provider's usage is missing or not
# plausible.
CHARS_PER_TOKEN = 4

# A reply is cut after `max_tokens * REPLY_CHARS_PER_TOKEN` characters: 50% above the ~4
# characters an English token averages, so a provider that honours `max_tokens` is never cut by
# us, while one that ignores it cannot stream megabytes.
REPLY_CHARS_PER_TOKEN = 6

# Plausibility bounds for reported usage. No tokenizer averages more than 16 characters per
# token over real text, and byte-level BPE needs at most one token per UTF-8 byte (a character
# is at most 4 bytes). Vendors add framing and hidden preambles to the prompt, hence the slack.
MAX_CHARS_PER_TOKEN = 16
MAX_TOKENS_PER_CHAR = 4
PROMPT_SLACK_TOKENS = 1024
PROMPT_SLACK_TOKENS_PER_TURN = 16
OUTPUT_SLACK_TOKENS = 16


def estimate_tokens(text_chars: int) -> int:
    """Rough token count from a character count (ceil)."""
    return -(-max(0, text_chars) // CHARS_PER_TOKEN)


def reply_char_limit(max_tokens: int) -> int:
    """The longest reply, in characters, relayed for a request asking `max_tokens`."""
    return max(1, max_tokens) * REPLY_CHARS_PER_TOKEN


def input_tokens_plausible(tokens: int, *, prompt_chars: int, prompt_turns: int) -> bool:
    """Whether a reported prompt token count can belong to a prompt of `prompt_chars`."""
    low = prompt_chars // MAX_CHARS_PER_TOKEN
    high = (
        prompt_chars * MAX_TOKENS_PER_CHAR
        + prompt_turns * PROMPT_SLACK_TOKENS_PER_TURN
        + PROMPT_SLACK_TOKENS
    )
    return low <= tokens <= high


def output_tokens_plausible(tokens: int, *, output_chars: int, max_tokens: int) -> bool:
    """Whether a reported output token count can belong to `output_chars` of streamed text.

    Up to `max_tokens` is always plausible: reasoning ("thinking") tokens are billed as output
    but never streamed."""
    low = output_chars // MAX_CHARS_PER_TOKEN
    high = max(max_tokens, output_chars * MAX_TOKENS_PER_CHAR) + OUTPUT_SLACK_TOKENS
    return low <= tokens <= high


def checked_usage(
    reported: Usage,
    *,
    estimate: Usage,
    prompt_chars: int,
    prompt_turns: int,
    output_chars: int,
    max_tokens: int,
) -> Usage:
    """`reported` where plausible; each implausible count (negative, far too small or too
    large for the text) is replaced by `estimate`'s and the result is flagged `estimated`."""
    input_ok = input_tokens_plausible(
        reported.input_tokens, prompt_chars=prompt_chars, prompt_turns=prompt_turns
    )
    output_ok = output_tokens_plausible(
        reported.output_tokens, output_chars=output_chars, max_tokens=max_tokens
    )
    if input_ok and output_ok:
        return reported
    return Usage(
        input_tokens=reported.input_tokens if input_ok else estimate.input_tokens,
        output_tokens=reported.output_tokens if output_ok else estimate.output_tokens,
        estimated=True,
    )


def cost_usd(spec: ModelSpec, usage: Usage) -> float:
    """Cost of `usage` at `spec`'s per-million-token prices; never negative."""
    cost = (
        max(0, usage.input_tokens) * spec.input_usd_per_mtok
        + max(0, usage.output_tokens) * spec.output_usd_per_mtok
    ) / 1_000_000
    return max(0.0, cost)


def worst_case_cost_usd(spec: ModelSpec, *, input_tokens: int, max_tokens: int) -> float:
    """Upper bound used when planning against a remaining budget: `cost_usd` of that usage,
    without building a `Usage` (once per candidate per plan, issue 20)."""
    cost = (
        max(0, input_tokens) * spec.input_usd_per_mtok
        + max(0, max_tokens) * spec.output_usd_per_mtok
    ) / 1_000_000
    return max(0.0, cost)
