"""A failover whose next model restarts the answer instead of continuing it: never doubled."""

from __future__ import annotations

import re

import pytest

from ai_router import ChatRequest, TextDelta, TextReset
from ai_router.continuation import ContinuationSeam
from tests.ai_router.conftest import RouterFactory
from tests.ai_router.fakes import Behaviour, FakeVendors, Vendor
from tests.ai_router.helpers import collect, deltas, finish

VENDORS: list[Vendor] = ["openai", "anthropic", "gemini"]
NEXT: dict[Vendor, Vendor] = {"openai": "anthropic", "anthropic": "gemini", "gemini": "openai"}

FIRST = (
    "Newton's first law of motion says that a body stays at rest or keeps moving in a "
    "straight line unless a net force acts on it."
)
# The same opening, then other words: cannot be spliced onto FIRST's beginning.
REWORDED = (
    "Newton's first law of motion states that every object continues in its state of rest "
    "or of uniform motion unless an external force acts upon it."
)


def words(text: str) -> tuple[str, ...]:
    """Token-sized chunks, as vendors stream them."""
    return tuple(re.findall(r"\S+\s*", text))


def seam_output(partial: str, pieces: list[str]) -> tuple[str, list[bool]]:
    seam = ContinuationSeam(partial)
    outs = [seam.feed(p) for p in pieces] + [seam.flush()]
    return "".join(o.text for o in outs), [o.reset for o in outs]


# ---- the seam alone --------------------------------------------------------------------------
def test_word_for_word_restart_is_dropped_up_to_where_the_partial_ends() -> None:
    partial = "".join(words(FIRST)[:12])
    text, resets = seam_output(partial, list(words(FIRST)))
    assert partial + text == FIRST and not any(resets)


def test_restart_with_other_whitespace_is_still_a_repeat() -> None:
    partial = "Step 1:\n\nlist the knowns with their units, then mark the unknown "
    restart = [
        "Step 1: list the ",
        "knowns with their units,\n",
        "then mark the unknown and ",
        "draw.",
    ]
    text, resets = seam_output(partial, restart)
    assert text == "and draw." and not any(resets)


def test_reworded_restart_resets_once_and_then_streams_through() -> None:
    partial = "".join(words(FIRST)[:8])
    text, resets = seam_output(partial, list(words(REWORDED)))
    assert text == REWORDED
    assert resets.count(True) == 1


def test_a_real_continuation_is_not_taken_for_a_restart() -> None:
    partial = "The answer is that the net force on the block is zero, so "
    text, resets = seam_output(partial, ["the block ", "keeps moving at constant velocity."])
    assert text == "the block keeps moving at constant velocity." and not any(resets)
    # A short shared opening is a coincidence, not a restart.
    text, resets = seam_output(partial, ["The answer ", "depends on friction."])
    assert text == "The answer depends on friction." and not any(resets)


def test_a_continuation_that_only_repeats_adds_nothing() -> None:
    partial = "".join(words(FIRST)[:12])
    text, resets = seam_output(partial, list(words(FIRST)[:5]))
    assert text == "" and not any(resets)


# ---- through the router, real SDKs --------------------------------------------------------------
@pytest.mark.parametrize("vendor", VENDORS)
async def test_word_for_word_restart_after_failover_is_not_doubled(
    vendor: Vendor, fakes: FakeVendors, make_router: RouterFactory
) -> None:
    other = NEXT[vendor]
    fakes.script(vendor, Behaviour(kind="cut", chunks=words(FIRST), cut_after=12))
    fakes.script(other, Behaviour(chunks=words(FIRST)))  # restarts from the beginning
    router = make_router([vendor, other])
    events = await collect(router, ChatRequest(message="Newton's first law?", provider=vendor))
    assert "".join(deltas(events)) == FIRST
    assert not any(isinstance(e, TextReset) for e in events)
    result = finish(events).result
    assert result.text == FIRST and result.provider == other


@pytest.mark.parametrize("vendor", VENDORS)
async def test_reworded_restart_after_failover_withdraws_the_partial(
    vendor: Vendor, fakes: FakeVendors, make_router: RouterFactory
) -> None:
    other = NEXT[vendor]
    fakes.script(vendor, Behaviour(kind="cut", chunks=words(FIRST), cut_after=8))
    fakes.script(other, Behaviour(chunks=words(REWORDED)))
    router = make_router([vendor, other])
    events = await collect(router, ChatRequest(message="Newton's first law?", provider=vendor))
    kinds = [type(e).__name__ for e in events if isinstance(e, TextDelta | TextReset)]
    assert kinds.count("TextReset") == 1
    cut = kinds.index("TextReset")
    assert cut == 8  # the partial's eight deltas came first
    reset = next(e for e in events if isinstance(e, TextReset))
    assert reset.provider == other
    after = [e.text for e in events[cut + 1 :] if isinstance(e, TextDelta)]
    assert "".join(after) == REWORDED
    result = finish(events).result
    assert result.text == REWORDED and result.provider == other
    assert result.attempts[0].tokens_delivered == 8
