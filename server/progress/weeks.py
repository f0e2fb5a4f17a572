"""The weekly key shared by XP totals, the ledger and the leaderboards."""

from __future__ import annotations

from datetime import date


def iso_week(day: date) -> str:
    """The ISO week a local day belongs to, e.g. "2026-W47"."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"
