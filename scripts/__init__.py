"""Admin scripts, run as `python -m scripts.<name>` (docs/SCRIPTS.md)."""
