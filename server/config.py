"""The one settings object: environment variables and `.env`, validated once at start-up."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from limits import parse_many
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ai_router.config import KNOWN_PROVIDERS


class OidcProviderSettings(BaseModel):
    """One OpenID provider of `OIDC_PROVIDERS`. No `client_secret`: a public client (PKCE only)."""

    model_config = ConfigDict(extra="forbid")

    issuer: Annotated[str, StringConstraints(pattern=r"^https?://[^\s?#]+$", max_length=500)]
    client_id: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    client_secret: SecretStr | None = None
    scope: str = "openid email profile"

    @field_validator("issuer")
    @classmethod
    def _strip_issuer_slash(cls, value: str) -> str:
        # Discovery is at {issuer}/.well-known/openid-configuration; the ID token's `iss` is
        # compared with what discovery says, not with this spelling.
        return value.rstrip("/")


_OIDC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # one URL path segment


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    environment: Literal["development", "production", "test"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    data_dir: Path = Path(".data")

    mongodb_url: str | None = None
    mongodb_db: str = "starguide"
    redis_url: str | None = None
    # How long a request waits to reach MongoDB or Redis before it answers 503
    # dependency_unavailable (with Retry-After, so the client retries), instead of the drivers'
    # 20-30 s: nobody waits long on a dead server.
    dependency_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    # SIGTERM (Kubernetes, docker stop): stop accepting, close sockets (clients reconnect to
    # another instance), let running replies finish for at most this long, then end the rest
    # as `interrupted` and close. Keep it below the orchestrator's kill deadline (Kubernetes:
    # terminationGracePeriodSeconds, 30 by default). docs/OPERATIONS.md.
    shutdown_grace_seconds: int = Field(default=25, ge=0, le=600)

    jwt_secret: SecretStr | None = None
    jwt_issuer: str = "starguide"
    jwt_audience: str = "starguide-api"
    access_token_ttl_seconds: int = Field(default=900, ge=30)
    refresh_token_ttl_seconds: int = Field(default=2_592_000, ge=60)

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    gemini_api_key: SecretStr | None = None
    gemini_base_url: str | None = None
    ai_providers: Annotated[list[str] | None, NoDecode] = None
    offline_token_delay_ms: int = Field(default=20, ge=0)
    # JSON, e.g. {"openai": [{"name": "gpt-4.1", "tier": "strong", "context_window": 1047576,
    # "input_usd_per_mtok": 2.0, "output_usd_per_mtok": 8.0}]}: replaces those providers' tables.
    ai_models: dict[str, list[dict[str, Any]]] | None = None

    cors_origins: Annotated[list[str], NoDecode] = [
        "http://localhost:3000",
        "http://localhost:5173",
    ]

    # Security knobs; the argon2 floor is OWASP's minimum (19 MiB, t=2), which is the default.
    max_body_bytes: int = 1_048_576
    login_max_failures: int = Field(default=5, ge=1)
    login_lock_seconds: int = Field(default=300, ge=1)
    argon2_memory_kib: int = Field(default=19_456, ge=19_456)
    argon2_time_cost: int = Field(default=2, ge=2)
    argon2_parallelism: int = Field(default=1, ge=1)
    # Per client address (`limits` notation, ";" between several; docs in README "Security"):
    # sign-ups, login attempts (any account) and password-reset requests.
    signup_rate_limit: str = "10/minute;30/hour;100/day"
    login_rate_limit: str = "20/minute;200/hour"
    # As logins: each reset or claim costs one password hash; the per-address limit below is
    # what keeps a mailbox from being flooded.
    password_reset_rate_limit: str = "20/minute;200/hour"  # noqa: S105 - a rate, no secret
    # Reset mails to one address (any client), so nobody floods a mailbox (server/auth/reset.py).
    password_reset_address_limit: str = "3/hour"  # noqa: S105 - a rate, no secret
    # Claim invitations (server/auth/claim.py): per invited account, and per inviting caller.
    claim_invite_user_limit: str = "3/hour;10/day"
    claim_invite_caller_limit: str = "60/hour;300/day"

    # Mail (server/mail, docs/ACCOUNTS.md): smtp://host:port, smtp+starttls://user:pass@host:587
    # or smtps://user:pass@host:465. Unset: mails go to DATA_DIR/outbox/*.eml (not in production).
    smtp_url: SecretStr | None = None
    mail_from: str = "StarGuide <no-reply@localhost>"
    # Where people open the app: the base of the links in mails.
    public_url: str = "http://127.0.0.1:8000"
    # Peers whose X-Forwarded-For is believed (IPs or CIDRs, comma separated; "*": any peer).
    # Same name and default as uvicorn's own setting, which `python -m server` is handed too.
    forwarded_allow_ips: Annotated[list[str], NoDecode] = ["127.0.0.1", "::1"]
    # Single sign-on (docs/ACCOUNTS.md): JSON {"google": {"issuer": "https://accounts.google.com",
    # "client_id": "...", "client_secret": "..."}}; each provider is found by OpenID discovery.
    oidc_providers: dict[str, OidcProviderSettings] = {}
    # How long a provider's discovery document and signing keys are reused before re-fetching.
    oidc_cache_seconds: int = Field(default=3600, ge=0)
    # How long the server waits for a provider (discovery, keys, code exchange) before a 503.
    oidc_timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    # Chat. Rate limits use the `limits` notation; several are separated by ";".
    chat_rate_limit: str = "60/minute;2000/day"
    # Per learner and local day; an organization's daily_ai_budget_usd overrides it.
    # Empty or "none": no limit.
    ai_daily_budget_usd: float | None = Field(default=1.0, ge=0)
    # The most an organization's own admin may give its learners per day (deployment admins
    # may set any budget): an org admin cannot run up the deployment's AI bill. Unset, it
    # follows AI_DAILY_BUDGET_USD upward (and "none" there means no ceiling either); set, it
    # must not be below AI_DAILY_BUDGET_USD. Empty or "none": no ceiling.
    ai_max_daily_budget_usd: float | None = Field(default=5.0, ge=0)
    chat_max_output_tokens: int = Field(default=1024, ge=16, le=32_000)
    chat_history_messages: int = Field(default=40, ge=2, le=200)
    chat_history_token_budget: int = Field(default=3000, ge=100)
    sse_heartbeat_seconds: float = Field(default=15.0, gt=0)
    # How often a streaming reply's partial text is saved (and a remote abort noticed: the
    # control channel stops it at once, this is the fallback). 3 s: one write per 3 s of
    # every streaming reply, and at most 3 s of text lost to a crash (issue 20).
    chat_flush_seconds: float = Field(default=3.0, gt=0)
    # A reply still "streaming" this long after its last write lost its process: marked failed.
    chat_stale_stream_seconds: int = Field(default=120, ge=10)

    # Socket.IO. Frames above the cap close the connection (a message is at most 8,000 chars).
    socket_max_frame_bytes: int = Field(default=65_536, ge=4096)
    # How long a reply's events stay replayable for `stream:resume` after its last event.
    socket_replay_ttl_seconds: int = Field(default=600, ge=10)
    # A socket's presence lapses this long after its instance stopped refreshing it.
    presence_ttl_seconds: int = Field(default=60, ge=5)
    # A repeated `typing: true` within this window is not relayed again.
    typing_debounce_seconds: float = Field(default=2.0, ge=0)
    # A relayed `typing` re-checks access in MongoDB only when this socket's last positive
    # check of the conversation (join, send, heartbeat, an earlier relay) is older than this.
    # 20 s = the default heartbeat re-check: a member whose loss of access was not announced
    # receives the room's events that long anyway, so a fresher check per keystroke buys
    # nothing and cost a database round trip on the relay path (issue 20, fan-out p99).
    typing_access_recheck_seconds: float = Field(default=20.0, ge=0)
    # Client events per socket (`limits` notation, ";" between several), in the instance's
    # memory (a socket lives on one instance): past it an event is answered `rate_limited`;
    # past SOCKET_EVENT_DISCONNECT_FACTOR times it, the socket is disconnected.
    socket_event_rate_limit: str = "20/second;600/minute"
    socket_event_disconnect_factor: int = Field(default=5, ge=2)
    # Open sockets per user across all instances (Redis with REDIS_URL): one more is refused.
    socket_max_per_user: int = Field(default=20, ge=1)

    # Progress (docs/PROGRESS.md): XP toward the daily goal per local day (chat and quiz XP),
    # and how many learner messages a day earn chat XP.
    daily_goal_xp: int = Field(default=10, ge=1)
    chat_xp_daily_messages: int = Field(default=20, ge=0)
    # Mock tests (docs/PRACTICE.md): how often open tests past their end are submitted by
    # the server (reads submit them too), and the seconds of grace after `ends_at` for answers.
    practice_sweep_seconds: float = Field(default=15.0, gt=0)
    practice_grace_seconds: float = Field(default=5.0, ge=0, le=60)

    # Study library (docs/LIBRARY.md): the largest document upload (its own body cap, above
    # MAX_BODY_BYTES, on POST /documents only), and the chunks' target size in characters.
    document_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    document_chunk_chars: int = Field(default=1000, ge=200, le=8000)
    # How many of the caller's readable chunks a search ranks at most (newest documents first).
    document_search_candidates: int = Field(default=5000, ge=10)
    # Retrieval (server/retrieval, docs/LIBRARY.md). EMBEDDINGS=local needs no network: the
    # model ships inside the `wordllama` wheel. The vendors use OPENAI_*/GEMINI_* keys and URLs
    # above; EMBEDDINGS_DIMENSIONS is asked of them (both support shortened vectors). Changing
    # EMBEDDINGS or its dimensions means re-processing stored documents.
    embeddings: Literal["local", "openai", "gemini"] = "local"
    embeddings_openai_model: str = "text-embedding-3-small"
    embeddings_gemini_model: str = "gemini-embedding-001"
    embeddings_dimensions: int = Field(default=768, ge=64, le=3072)
    # `atlas`: MongoDB $vectorSearch over document_chunks (Atlas, or MongoDB 8.2+ with mongot)
    # using the vector index named VECTOR_SEARCH_INDEX; `local`: ranked in the server process.
    vector_search: Literal["local", "atlas"] = "local"
    vector_search_index: str = "document_chunks_embedding"
    # Background jobs (server/jobs, docs/JOBS.md). JOBS_IN_PROCESS=false: this instance only
    # enqueues and `python -m server.worker` runs the jobs (with Redis; without it jobs always
    # run in the server process). A job whose worker has not beaten for JOBS_HEARTBEAT_SECONDS
    # is taken as lost and retried. JOBS_EXTRA_HANDLERS: `module:function` registrations added
    # to server.app.JOB_HANDLERS, for tests and plugins.
    jobs_in_process: bool = True
    jobs_concurrency: int = Field(default=4, ge=1, le=256)
    jobs_heartbeat_seconds: int = Field(default=30, ge=2, le=3600)
    jobs_retry_delay_seconds: float = Field(default=2.0, ge=0)
    jobs_retry_max_delay_seconds: float = Field(default=300.0, ge=0)
    jobs_result_ttl_seconds: int = Field(default=86_400, ge=60)
    jobs_extra_handlers: Annotated[list[str], NoDecode] = []

    # Operations (docs/OPERATIONS.md). GET /metrics answers callers within METRICS_ALLOW
    # (addresses or CIDRs, comma separated; the client address as per-client limits see it) or
    # sending `Authorization: Bearer <METRICS_TOKEN>`; anyone else gets 404.
    metrics_allow: Annotated[list[str], NoDecode] = ["127.0.0.1", "::1"]
    metrics_token: SecretStr | None = None
    # Traces over OTLP/HTTP when set (e.g. http://otel-collector:4318); errors to Sentry when
    # SENTRY_DSN is set. Neither is imported when unset.
    otel_exporter_otlp_endpoint: str | None = None
    sentry_dsn: SecretStr | None = None

    default_org_slug: str = "default"
    default_org_name: str = "StarGuide"

    @field_validator("jobs_extra_handlers", mode="before")
    @classmethod
    def _split_handlers(cls, value: object) -> object:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip() for o in value.split(",") if o.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard(cls, value: list[str]) -> list[str]:
        if "*" in value:
            raise ValueError("CORS_ORIGINS must list origins explicitly; '*' is not allowed")
        return value

    @field_validator("forwarded_allow_ips", "metrics_allow", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @field_validator("forwarded_allow_ips", "metrics_allow")
    @classmethod
    def _valid_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            if entry == "*":
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or network: {entry!r}") from None
        return value

    @field_validator("ai_daily_budget_usd", "ai_max_daily_budget_usd", mode="before")
    @classmethod
    def _no_budget(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("", "none", "off"):
            return None
        return value

    @field_validator(
        "chat_rate_limit",
        "socket_event_rate_limit",
        "signup_rate_limit",
        "login_rate_limit",
        "password_reset_rate_limit",
        "password_reset_address_limit",
        "claim_invite_user_limit",
        "claim_invite_caller_limit",
    )
    @classmethod
    def _valid_rate(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit such as '20/minute;500/day': {exc}") from exc
        return value

    @field_validator("ai_providers", mode="before")
    @classmethod
    def _split_providers(cls, value: object) -> object:
        if isinstance(value, str):
            return [p.strip().lower() for p in value.split(",") if p.strip()] or None
        return value

    @field_validator("ai_providers")
    @classmethod
    def _known_providers(cls, value: list[str] | None) -> list[str] | None:
        for name in value or []:
            if name not in KNOWN_PROVIDERS:
                raise ValueError(f"unknown AI provider {name!r}; use {', '.join(KNOWN_PROVIDERS)}")
        return value

    @model_validator(mode="after")
    def _budget_ceiling(self) -> Settings:
        """The default budget is what an organization falls back to, so it must fit under the
        ceiling, or an org admin could reach it by clearing their budget."""
        default, ceiling = self.ai_daily_budget_usd, self.ai_max_daily_budget_usd
        if "ai_max_daily_budget_usd" not in self.model_fields_set:
            if default is None:
                self.ai_max_daily_budget_usd = None
            elif ceiling is not None and default > ceiling:
                self.ai_max_daily_budget_usd = default
        elif ceiling is not None and (default is None or default > ceiling):
            shown = "none (no limit)" if default is None else default
            raise ValueError(
                f"AI_MAX_DAILY_BUDGET_USD ({ceiling}) is below AI_DAILY_BUDGET_USD ({shown}): "
                "raise the ceiling or lower the default budget"
            )
        return self

    @field_validator("smtp_url")
    @classmethod
    def _known_smtp_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            scheme = value.get_secret_value().partition("://")[0]
            if scheme not in ("smtp", "smtp+starttls", "smtps"):
                # The scheme only: the URL may carry a password.
                raise ValueError("SMTP_URL must start with smtp://, smtp+starttls:// or smtps://")
        return value

    @field_validator("oidc_providers")
    @classmethod
    def _oidc_names(cls, value: dict[str, OidcProviderSettings]) -> dict[str, OidcProviderSettings]:
        for name in value:
            if not _OIDC_NAME.fullmatch(name):
                raise ValueError(
                    f"OIDC_PROVIDERS: {name!r} is not a provider name (letters, digits, '.', "
                    "'-' or '_', at most 64): it becomes part of the callback URL"
                )
        return value

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _production_checks(self) -> Settings:
        if self.environment != "production":
            return self
        if not self.mongodb_url:
            raise ValueError(
                "MONGODB_URL is required when ENVIRONMENT=production: the embedded dev "
                "database is for development only"
            )
        if self.jwt_secret is None:
            raise ValueError("JWT_SECRET is required when ENVIRONMENT=production")
        if len(self.jwt_secret.get_secret_value().encode()) < 32:
            raise ValueError("JWT_SECRET must be at least 32 bytes")
        return self

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    def resolved_jwt_secret(self) -> str:
        """The configured secret, or in development one generated once and kept in data_dir."""
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        path = self.data_dir / "jwt_secret"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secret)
        return secret


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
