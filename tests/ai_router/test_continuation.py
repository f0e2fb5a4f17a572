"""The seam between a failed stream and its continuation has no gap and no repeat."""

from __future__ import annotations

from ai_router.continuation import OverlapTrimmer


def feed_all(partial: str, pieces: list[str]) -> str:
    t = OverlapTrimmer(partial)
    return "".join(t.feed(p) for p in pieces) + t.flush()


def test_clean_continuation_passes_through() -> None:
    assert feed_all("The force is ", ["equal to mass ", "times acceleration."]) == (
        "equal to mass times acceleration."
    )


def test_repeated_tail_is_dropped() -> None:
    partial = "Photosynthesis happens in the chloroplast, where light "
    out = feed_all(partial, ["in the chloroplast, where light ", "energy is captured."])
    assert out == "energy is captured."


def test_double_space_at_seam_is_dropped() -> None:
    assert feed_all("Step 1: ", ["  list the knowns."]) == "list the knowns."


def test_short_coincidental_overlap_is_kept() -> None:
    assert feed_all("It is the", ["the end."]) == "the end."


def test_after_hold_text_streams_immediately() -> None:
    t = OverlapTrimmer("abc ")
    assert t.feed("x" * 60) == "x" * 60
    assert t.feed("y") == "y"
