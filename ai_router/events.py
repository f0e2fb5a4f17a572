"""Events of a routed stream; each is tagged with the provider and model that produced it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ai_router.results import ChatResult, FinishReason


@dataclass(frozen=True, slots=True)
class TextDelta:
    """The next piece of the answer; deltas concatenate into one gapless text (since the last
    `TextReset`, if any)."""

    text: str
    provider: str
    model: str
    type: Literal["text_delta"] = field(default="text_delta", init=False)


_new = object.__new__
_SET_TEXT_DELTA = tuple(vars(TextDelta)[name].__set__ for name in ("text", "provider", "model"))
_SET_TYPE = vars(TextDelta)["type"].__set__


def text_delta(text: str, provider: str, model: str) -> TextDelta:
    """`TextDelta(text, provider, model)` for the per-chunk path: the same frozen object, its
    slots set directly rather than by the dataclass `__init__` (one `object.__setattr__` per
    field, twice the cost; issue 20). tests/ai_router/test_events.py keeps them identical."""
    delta = _new(TextDelta)
    set_text, set_provider, set_model = _SET_TEXT_DELTA
    set_text(delta, text)
    set_provider(delta, provider)
    set_model(delta, model)
    _SET_TYPE(delta, "text_delta")
    return delta


@dataclass(frozen=True, slots=True)
class TextReset:
    """Withdraws every delta delivered so far: after a mid-stream failover the next model
    restarted the answer in other words, and its text (the deltas that follow) is the answer.
    Rare; a consumer that shows text must clear it."""

    provider: str
    model: str
    type: Literal["text_reset"] = field(default="text_reset", init=False)


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """Token counts for the whole request (all attempts), sent once just before `Finish`."""

    input_tokens: int
    output_tokens: int
    estimated: bool
    provider: str
    model: str
    type: Literal["usage"] = field(default="usage", init=False)


@dataclass(frozen=True, slots=True)
class Finish:
    """Last event of a successful stream; carries the complete `ChatResult`."""

    reason: FinishReason
    provider: str
    model: str
    result: ChatResult
    type: Literal["finish"] = field(default="finish", init=False)


StreamEvent = TextDelta | TextReset | UsageEvent | Finish
