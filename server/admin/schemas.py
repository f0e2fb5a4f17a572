"""Admin API shapes. Requests refuse unknown fields (`RequestModel`); answers never carry a
password hash, a token or message content."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StrictBool, StringConstraints, field_validator

from ai_router.config import known_providers
from models import AuditLog, Organization, User
from models.user import Role
from server.dashboards.schemas import ProgressPublic
from server.memory.service import WeakTopicView
from server.schemas import Page, RequestModel
from server.users.schemas import ProfilePublic

Slug = Annotated[
    str,
    StringConstraints(strict=True, min_length=2, max_length=48, pattern=r"^[a-z0-9][a-z0-9-]*$"),
]
OrgName = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=120)
]
Budget = Annotated[float, Field(ge=0, le=100_000)]
# An email domain as the part after "@" (lower-cased): "allen.ac.in".
SsoDomain = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        max_length=253,
        # Checked before lower-casing, so both cases pass here.
        pattern=r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9]$",
    ),
]


class AdminUser(BaseModel):
    """A user as admins list them: the account, not the learner's memory or content."""

    id: str
    email: str
    role: Role
    org_id: str
    profile: ProfilePublic
    preferred_provider: str | None
    disabled: bool
    legacy_id: str | None
    # A legacy import that nobody has claimed yet has no password.
    has_password: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_doc(cls, user: User) -> AdminUser:
        return cls(
            id=str(user.id),
            email=user.email,
            role=user.role,
            org_id=str(user.org_id),
            profile=ProfilePublic(**user.profile.model_dump()),
            preferred_provider=user.preferred_provider,
            disabled=user.disabled,
            legacy_id=user.legacy_id,
            has_password=user.password_hash is not None,
            created_at=user.created_at,
            updated_at=user.updated_at,
        )


AdminUserPage = Page[AdminUser]


class LearnerDetail(BaseModel):
    """What a mentor or admin reads about one learner (an audited read)."""

    user: AdminUser
    memory: dict[str, list[WeakTopicView]]
    progress: ProgressPublic


class AdminUserUpdate(RequestModel):
    role: Role | None = None
    disabled: StrictBool | None = None


class OrgCreate(RequestModel):
    name: OrgName
    slug: Slug
    # null: every provider the deployment enables; a list restricts the organization to those.
    allowed_providers: Annotated[list[str], Field(max_length=8)] | None = None
    signup_open: StrictBool = True
    # null: the deployment's per-learner default (AI_DAILY_BUDGET_USD).
    daily_ai_budget_usd: Budget | None = None

    _providers = field_validator("allowed_providers")(known_providers)


class OrgUpdate(RequestModel):
    name: OrgName | None = None
    allowed_providers: Annotated[list[str], Field(max_length=8)] | None = None
    signup_open: StrictBool | None = None
    daily_ai_budget_usd: Budget | None = None
    # Deployment admins only; the whole list is replaced (null or [] clears it).
    sso_domains: Annotated[list[SsoDomain], Field(max_length=50)] | None = None

    _providers = field_validator("allowed_providers")(known_providers)


class OrgPublic(BaseModel):
    id: str
    name: str
    slug: str
    allowed_providers: list[str] | None
    signup_open: bool
    daily_ai_budget_usd: float | None
    sso_domains: list[str]
    created_at: datetime

    @classmethod
    def from_doc(cls, org: Organization) -> OrgPublic:
        return cls(
            id=str(org.id),
            name=org.name,
            slug=org.slug,
            allowed_providers=org.allowed_providers,
            signup_open=org.signup_open,
            daily_ai_budget_usd=org.daily_ai_budget_usd,
            sso_domains=org.sso_domains,
            created_at=org.created_at,
        )


OrgPage = Page[OrgPublic]


class UsageRow(BaseModel):
    day: str | None = None  # absent in the per-provider totals
    provider: str
    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: float


class UsageReport(BaseModel):
    from_day: date = Field(serialization_alias="from")
    to_day: date = Field(serialization_alias="to")
    org_id: str | None
    items: list[UsageRow]
    totals: list[UsageRow]


class AuditEntry(BaseModel):
    id: str
    action: str
    outcome: str
    actor_id: str | None
    org_id: str | None
    target_type: str | None
    target_id: str | None
    details: dict[str, Any]
    request_id: str | None
    created_at: datetime

    @classmethod
    def from_doc(cls, entry: AuditLog) -> AuditEntry:
        return cls(
            id=str(entry.id),
            action=entry.action,
            outcome=entry.outcome,
            actor_id=str(entry.actor_id) if entry.actor_id else None,
            org_id=str(entry.org_id) if entry.org_id else None,
            target_type=entry.target_type,
            target_id=entry.target_id,
            details=entry.details,
            request_id=entry.request_id,
            created_at=entry.created_at,
        )


AuditPage = Page[AuditEntry]
