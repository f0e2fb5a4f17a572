"""Quizzes: a question bank, the next question to practise, topic mastery and spaced reviews
(docs/QUIZZES.md)."""
