"""The per-chunk `text_delta` builder (issue 20) makes exactly what `TextDelta(...)` makes."""

from __future__ import annotations

import dataclasses

import pytest

from ai_router.events import TextDelta, text_delta


def test_text_delta_equals_the_dataclass_and_sets_every_field() -> None:
    fast, slow = text_delta("Hi ", "openai", "gpt-4.1"), TextDelta("Hi ", "openai", "gpt-4.1")
    assert type(fast) is TextDelta
    assert fast == slow and hash(fast) == hash(slow)
    # A field added to TextDelta must be set by the builder too (else reading it raises).
    assert {f.name: getattr(fast, f.name) for f in dataclasses.fields(TextDelta)} == {
        "text": "Hi ",
        "provider": "openai",
        "model": "gpt-4.1",
        "type": "text_delta",
    }
    assert dataclasses.asdict(fast) == dataclasses.asdict(slow)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.text = "changed"  # type: ignore[misc]
