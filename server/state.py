"""What the lifespan opens, handed to dependencies as one typed object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from limits.aio.storage import Storage
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from ai_router import AIRouter
from server.auth.clients import TrustedProxies
from server.auth.oidc_client import OidcClients
from server.auth.passwords import Passwords
from server.auth.sessions import EndedSessions
from server.auth.throttle import ClientLimits, LoginThrottle
from server.auth.tokens import TokenCodec
from server.chat.service import ChatService
from server.cluster import Cluster
from server.config import Settings
from server.embedded_db import EmbeddedMongo
from server.events import ServerEvent
from server.jobs import JobQueue
from server.leaderboard.boards import Leaderboards
from server.progress.service import ProgressService


class Notifier(Protocol):
    """Live events to one user's sockets on every instance (the socket gateway)."""

    async def to_user(self, user_id: str, event: ServerEvent) -> None: ...


@dataclass
class AppState:
    settings: Settings
    mongo: AsyncMongoClient[dict[str, Any]]
    db: AsyncDatabase[dict[str, Any]]
    redis: Redis | None
    embedded: EmbeddedMongo | None
    limits_storage: Storage
    passwords: Passwords
    tokens: TokenCodec
    login_throttle: LoginThrottle
    client_limits: ClientLimits
    trusted_proxies: TrustedProxies
    ended_sessions: EndedSessions
    ai_router: AIRouter
    chat: ChatService
    cluster: Cluster
    notifier: Notifier
    progress: ProgressService
    leaderboards: Leaderboards
    # Background jobs (server/jobs): durable on Redis, in-process without it.
    jobs: JobQueue
    # Single sign-on (server/auth/oidc*): the OpenID providers and their one-time store.
    oidc: OidcClients
