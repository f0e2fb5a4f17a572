from __future__ import annotations

from datetime import datetime
from typing import Annotated

from beanie import Document, Indexed
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from models.common import utcnow


class Organization(Document):
    name: str
    slug: Annotated[str, Indexed(unique=True)]
    # None means "every provider the deployment enables".
    allowed_providers: list[str] | None = None
    signup_open: bool = True
    daily_ai_budget_usd: float | None = None
    # Email domains (lower-case) whose new SSO users join this organization (docs/ACCOUNTS.md).
    sso_domains: list[str] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "organizations"
        # The admin list, newest first.
        indexes = [
            IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="recent"),
            # Placing a new SSO user by email domain; unique, so a domain belongs to at most one
            # organization even when two admins claim it at once. Partial: organizations
            # without domains (an empty list) are not in the index at all.
            IndexModel(
                [("sso_domains", ASCENDING)],
                unique=True,
                partialFilterExpression={"sso_domains": {"$type": "string"}},
                name="sso_domains_unique",
            ),
        ]
