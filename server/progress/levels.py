"""The level curve: a pure function of total XP (docs/PROGRESS.md has the table).

Reaching level n takes 50·n·(n−1) XP in total: 0, 100, 300, 600, 1000, 1500, ... Each level
costs 100 XP more than the one before, so early levels come fast (a day or two of study) and
later ones keep meaning something.
"""

from __future__ import annotations

import math
from typing import Final

XP_STEP: Final = 50


def xp_for_level(level: int) -> int:
    """Total XP at which `level` begins (level 1 at 0 XP)."""
    level = max(1, level)
    return XP_STEP * level * (level - 1)


def level_for_xp(xp: int) -> int:
    """The highest level whose threshold `xp` has reached; exact in integers for any XP."""
    if xp <= 0:
        return 1
    # Solving 50·n·(n−1) <= xp for n gives n <= (5 + sqrt(25 + 2·xp)) / 10.
    level = max(1, (5 + math.isqrt(25 + 2 * xp)) // 10)
    while xp_for_level(level + 1) <= xp:
        level += 1
    while level > 1 and xp_for_level(level) > xp:
        level -= 1
    return level


def next_level_xp(xp: int) -> int:
    """Total XP at which the next level begins."""
    return xp_for_level(level_for_xp(xp) + 1)
