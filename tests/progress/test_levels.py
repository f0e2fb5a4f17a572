"""The level curve: 50·n·(n−1) total XP for level n, exact at every boundary."""

from __future__ import annotations

import pytest

from server.progress.levels import level_for_xp, next_level_xp, xp_for_level


def test_the_documented_table() -> None:
    assert [xp_for_level(n) for n in range(1, 11)] == [
        0, 100, 300, 600, 1000, 1500, 2100, 2800, 3600, 4500,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("xp", "level", "next_xp"),
    [(0, 1, 100), (-5, 1, 100), (99, 1, 100), (100, 2, 300), (299, 2, 300), (300, 3, 600),
     (4499, 9, 4500), (4500, 10, 5500)],
)  # fmt: skip
def test_levels_at_the_boundaries(xp: int, level: int, next_xp: int) -> None:
    assert level_for_xp(xp) == level
    assert next_level_xp(xp) == next_xp


def test_every_threshold_is_exact_for_large_totals() -> None:
    for n in (2, 57, 1000, 31_623, 10**6):
        start = xp_for_level(n)
        assert level_for_xp(start) == n
        assert level_for_xp(start - 1) == n - 1
