from __future__ import annotations

from datetime import datetime
from typing import Annotated

from beanie import Document, Indexed
from pydantic import Field
from pymongo import DESCENDING, IndexModel

from models.common import utcnow


class Organization(Document):
    name: str
    slug: Annotated[str, Indexed(unique=True)]
    # None means "every provider the deployment enables".
    allowed_providers: list[str] | None = None
    signup_open: bool = True
    daily_ai_budget_usd: float | None = None
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "organizations"
        # The admin list, newest first.
        indexes = [IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="recent")]
