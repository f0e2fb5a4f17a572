"""StarGuide\x27s FastAPI application, its routes and services."""
