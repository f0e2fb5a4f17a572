"""The admin API: users, organizations, usage and the audit log (mentors: read-only learners)."""
