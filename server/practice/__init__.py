"""Exam practice: timed mock tests (`mock_tests`) and group assignments (`assignments`)."""
