"""Weekly leagues: per organization and per study group (docs/PROGRESS.md)."""
