"""Learner memory tests."""
