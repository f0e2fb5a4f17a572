"""The learner's own data: export (GDPR art. 15 and 20) and erasure (art. 17)."""
