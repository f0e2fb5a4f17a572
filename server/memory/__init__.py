"""Learner memory: the syllabus taxonomy, difficulty signals and weakness scores."""
