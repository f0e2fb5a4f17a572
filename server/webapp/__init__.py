"""The learner's web app: static files of our own, served at `/` (docs/WEBAPP.md)."""
