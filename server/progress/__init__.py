"""Progress: the XP ledger, levels, streaks and achievements (docs/PROGRESS.md)."""
