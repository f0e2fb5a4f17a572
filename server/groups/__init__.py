"""Study groups: a mentor's learners with one shared conversation the AI mentor answers in."""
