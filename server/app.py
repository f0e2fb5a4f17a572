"""The FastAPI application: one lifespan, one error renderer, the feature routers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from beanie import init_beanie
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from limits import errors as limits_errors
from pymongo import errors as mongo_errors
from redis import exceptions as redis_errors
from redis.asyncio import Redis
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp

from models import DOCUMENT_MODELS
from realtime import Gateway
from realtime import privacy as realtime_privacy
from server import metrics, openapi, shutdown, telemetry
from server.admin.router import router as admin_router
from server.ai import build_router
from server.audit import privacy as audit_privacy
from server.auth import privacy as auth_privacy
from server.auth.clients import TrustedProxies
from server.auth.oidc_client import OidcClients
from server.auth.oidc_router import router as oidc_router
from server.auth.oidc_store import OneTimeStore
from server.auth.passwords import Passwords
from server.auth.router import router as auth_router
from server.auth.sessions import EndedSessions
from server.auth.throttle import ClientLimits, LoginThrottle, limits_storage
from server.auth.tokens import TokenCodec
from server.chat import privacy as chat_privacy
from server.chat.limits import SendLimiter
from server.chat.router import router as chat_router
from server.chat.service import ChatService
from server.cluster import Cluster
from server.config import Settings, get_settings
from server.connections import mongo_client, redis_options
from server.conversations import privacy as conversations_privacy
from server.conversations.router import router as conversations_router
from server.dashboards.router import groups_router as group_dashboard_router
from server.dashboards.router import progress_router as learner_dashboard_router
from server.embedded_db import EmbeddedMongo
from server.errors import AppError, dependency_error, field_errors
from server.groups import privacy as groups_privacy
from server.groups import service as groups_service
from server.groups.router import router as groups_router
from server.health.router import router as health_router
from server.jobs import JobQueue, JobRegistration, build_job_queue, load_extra_registrations
from server.jobs.router import router as jobs_router
from server.leaderboard import privacy as leaderboard_privacy
from server.leaderboard.boards import Leaderboards
from server.leaderboard.router import router as leaderboard_router
from server.library import privacy as library_privacy
from server.library import processing as library_processing
from server.library import ranking as library_ranking
from server.library import service as library_service
from server.library.router import router as library_router
from server.mail import service as mail_service
from server.memory import privacy as memory_privacy
from server.memory.taxonomy import load_taxonomy
from server.metrics import exposition as metrics_exposition
from server.metrics.http import HttpMetricsMiddleware
from server.metrics.router import router as metrics_router
from server.middleware import RequestContextMiddleware
from server.orgs import privacy as orgs_privacy
from server.orgs import service as orgs_service
from server.practice import privacy as practice_privacy
from server.practice import sweeper as practice_sweeper
from server.practice.router import practice_of
from server.practice.router import router as practice_router
from server.privacy import service as privacy_service
from server.privacy.registry import PrivacyRegistry
from server.privacy.router import router as privacy_router
from server.progress import privacy as progress_privacy
from server.progress.catalog import load_catalog
from server.progress.router import badges_router
from server.progress.router import router as progress_router
from server.progress.service import ProgressService
from server.quiz import bank as quiz_bank
from server.quiz import generation as quiz_generation
from server.quiz import privacy as quiz_privacy
from server.quiz.authoring_router import router as questions_router
from server.quiz.router import router as quiz_router
from server.state import AppState
from server.usage import privacy as usage_privacy
from server.users import privacy as users_privacy
from server.users import service as users_service
from server.users.router import router as users_router
from server.webapp.router import router as webapp_router

log = logging.getLogger("starguide")
API_PREFIX = "/api/v1"
# Multipart headers and the small form fields next to an uploaded document.
_MULTIPART_OVERHEAD_BYTES = 64 * 1024

# Every feature's export sections and erasure steps (docs/PRIVACY.md). Within an erasure
# phase, steps run in this order unless a step's `after`/`before` says otherwise, and the
# export's sections come in this order too. A feature that keeps personal data adds its
# `register_privacy_steps` here; tests/privacy/test_registry.py fails until it does.
PRIVACY_STEPS = (
    users_privacy.register_privacy_steps,
    memory_privacy.register_privacy_steps,
    conversations_privacy.register_privacy_steps,
    leaderboard_privacy.register_privacy_steps,
    chat_privacy.register_privacy_steps,
    progress_privacy.register_privacy_steps,
    quiz_privacy.register_privacy_steps,
    library_privacy.register_privacy_steps,
    practice_privacy.register_privacy_steps,
    usage_privacy.register_privacy_steps,
    groups_privacy.register_privacy_steps,
    auth_privacy.register_privacy_steps,
    audit_privacy.register_privacy_steps,
    orgs_privacy.register_privacy_steps,
    realtime_privacy.register_privacy_steps,
)


def privacy_registry() -> PrivacyRegistry:
    registry = PrivacyRegistry()
    for register in PRIVACY_STEPS:
        register(registry)
    return registry


# Every feature's background job handlers (docs/JOBS.md): a feature adds its
# `register_jobs(queue)` here. JOBS_EXTRA_HANDLERS adds more (tests, plugins).
JOB_HANDLERS: tuple[JobRegistration, ...] = (
    library_processing.register_jobs,
    mail_service.register_jobs,
    quiz_generation.register_jobs,
)


def job_queue(settings: Settings) -> JobQueue:
    queue = build_job_queue(settings)
    for register in (*JOB_HANDLERS, *load_extra_registrations(settings.jobs_extra_handlers)):
        register(queue)
    return queue


async def _close_chat(chat: ChatService, grace_s: float) -> None:
    await chat.aclose(drain_s=shutdown.remaining(grace_s))


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    async with AsyncExitStack() as cleanup:  # closes in reverse order, also on a failed start
        embedded: EmbeddedMongo | None = None
        mongodb_url = settings.mongodb_url
        if not mongodb_url:
            embedded = EmbeddedMongo.in_data_dir(settings.data_dir)
            cleanup.push_async_callback(embedded.stop)
            mongodb_url = await embedded.start()
            # Restarted on the same port if it dies: the client below reconnects by itself.
            embedded.supervise()
        mongo = mongo_client(mongodb_url, timeout_s=settings.dependency_timeout_seconds)
        cleanup.push_async_callback(mongo.close)
        redis: Redis | None = None
        if settings.redis_url:
            redis = Redis.from_url(
                settings.redis_url, **redis_options(timeout_s=settings.dependency_timeout_seconds)
            )
            cleanup.push_async_callback(redis.aclose)
        db = mongo[settings.mongodb_db]
        await init_beanie(database=db, document_models=DOCUMENT_MODELS)
        await orgs_service.ensure_default_org(
            slug=settings.default_org_slug, name=settings.default_org_name
        )
        # A fresh database gets the packaged question bank and syllabus topics; a stocked one
        # is left alone.
        await quiz_bank.seed_if_empty()
        await quiz_bank.seed_topics_if_empty()
        storage = limits_storage(
            settings.redis_url, **redis_options(timeout_s=settings.dependency_timeout_seconds)
        )
        cluster = Cluster(redis)
        cleanup.push_async_callback(cluster.aclose)
        # Accounts and organizations are cached per process, invalidated over the channel.
        for cached in (users_service, orgs_service, groups_service, library_service):
            cached.attach_cache(cluster)
            cleanup.callback(cached.detach_cache, cluster)
        await cluster.start()
        gateway: Gateway = app.state.gateway
        # Registered before the chat service, so it closes after it and flushes its last events.
        cleanup.push_async_callback(gateway.aclose)
        ai_router = build_router(settings)
        cleanup.push_async_callback(ai_router.aclose)
        chat = ChatService(
            settings=settings,
            router=ai_router,
            limiter=SendLimiter(storage=storage, rate=settings.chat_rate_limit),
            taxonomy=load_taxonomy(),
            cluster=cluster,
        )
        # Closed before the router and the database: running replies may finish within what
        # is left of the shutdown grace (server/shutdown.py), the rest record their interruption.
        cleanup.push_async_callback(_close_chat, chat, settings.shutdown_grace_seconds)
        leaderboards = Leaderboards(redis)
        progress = ProgressService(
            catalog=load_catalog(),
            notifier=gateway,
            leaderboards=leaderboards,
            daily_goal_xp=settings.daily_goal_xp,
            chat_xp_daily_messages=settings.chat_xp_daily_messages,
        )
        await progress.sync_catalog()
        # A learner's stored message earns XP and extends the streak, in a task of its own.
        chat.add_stored_listener(progress.schedule_learner_message)
        # Replies, time to first token, tokens, cost and breakers for GET /metrics.
        chat.generations.add_listener(metrics.ChatMetrics(ai_router))
        cleanup.callback(metrics_exposition.process_stopped)
        # Closed before the chat service and the gateway: last updates still notify.
        cleanup.push_async_callback(progress.aclose)
        sweeper = asyncio.create_task(_sweep_forever(chat, settings.chat_stale_stream_seconds))
        cleanup.push_async_callback(_cancel, sweeper)
        client_limits = ClientLimits(
            storage=storage,
            signup=settings.signup_rate_limit,
            login=settings.login_rate_limit,
            password_reset=settings.password_reset_rate_limit,
        )
        jobs = job_queue(settings)
        oidc = OidcClients(
            providers=settings.oidc_providers,
            public_url=settings.public_url,
            cache_seconds=settings.oidc_cache_seconds,
            timeout_s=settings.oidc_timeout_seconds,
            store=OneTimeStore(redis),
        )
        cleanup.push_async_callback(oidc.aclose)
        state = AppState(
            settings=settings,
            mongo=mongo,
            db=db,
            redis=redis,
            embedded=embedded,
            limits_storage=storage,
            passwords=Passwords(
                memory_kib=settings.argon2_memory_kib,
                time_cost=settings.argon2_time_cost,
                parallelism=settings.argon2_parallelism,
            ),
            tokens=TokenCodec(
                secret=settings.resolved_jwt_secret(),
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                access_ttl_seconds=settings.access_token_ttl_seconds,
                refresh_ttl_seconds=settings.refresh_token_ttl_seconds,
            ),
            login_throttle=LoginThrottle(
                storage=storage,
                max_failures=settings.login_max_failures,
                lock_seconds=settings.login_lock_seconds,
                per_client=client_limits.login,
                redis=redis,
                known_device_seconds=settings.refresh_token_ttl_seconds,
            ),
            client_limits=client_limits,
            trusted_proxies=TrustedProxies(settings.forwarded_allow_ips),
            ended_sessions=EndedSessions(
                redis, access_ttl_seconds=settings.access_token_ttl_seconds
            ),
            ai_router=ai_router,
            chat=chat,
            cluster=cluster,
            notifier=gateway,
            progress=progress,
            leaderboards=leaderboards,
            jobs=jobs,
            oidc=oidc,
        )
        await gateway.start(state)
        # The study library embeds with the configured embedder (before any job runs).
        library_ranking.install(settings=settings)
        # Closed first: running attempts are interrupted (and queued again) while the
        # database, Redis and the gateway are still open.
        cleanup.push_async_callback(jobs.aclose)
        await jobs.start(state)
        # Documents an earlier instance left queued or processing are queued again.
        await library_processing.resume_interrupted(state)
        # Mock tests nobody submitted end at their time (docs/PRACTICE.md); reads end them too.
        test_sweeper = asyncio.create_task(
            practice_sweeper.sweep_forever(practice_of(state), settings.practice_sweep_seconds)
        )
        cleanup.push_async_callback(_cancel, test_sweeper)
        app.state.ctx = state
        if getattr(app.state, "freeze_heap", False):
            # A server process builds the shipped knowledge's index now: the first learner's
            # first reply no longer waits half a second for it, and the index is frozen below
            # with the rest of the start-up heap. (Tests that build apps in-process build it
            # when a reply first needs it.)
            try:
                await chat.warm()
            except Exception:  # never a reason not to start: the first reply tries again
                log.exception("indexing the shipped knowledge at start-up failed")
            # The long-lived start-up heap (modules, schemas, models, indexes) out of the
            # collector's generations: full collections, which every request's allocations
            # trigger, no longer walk it (issue 20). Only for a server process: tests build
            # many apps in one process and must see theirs collected.
            gc.collect()
            gc.freeze()
        mail_service.warn_if_outbox_in_production(settings)
        log.info(
            "starguide ready",
            extra={
                "environment": settings.environment,
                "database": "embedded" if embedded else "external",
                "redis": bool(redis),
                "ai_providers": list(ai_router.providers),
            },
        )
        yield


async def _sweep_forever(chat: ChatService, stale_seconds: int) -> None:
    """Replies orphaned by a crashed instance are marked failed, at start and then regularly."""
    while True:
        try:
            await chat.sweep_stale()
        except Exception:
            log.exception("sweeping interrupted replies failed")
        await asyncio.sleep(max(5.0, stale_seconds / 2))


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _error_response(request: Request, error: AppError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return _error_response(request, exc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        error = AppError("The request body is not valid JSON.", code="invalid_json", status=422)
    else:
        error = AppError(
            "The request is invalid.",
            code="validation_error",
            status=422,
            details={"fields": jsonable_encoder(field_errors(errors))},
        )
    return _error_response(request, error)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
        # FastAPI's 400 for a body it cannot even decode (bytes that are not UTF-8): to the
        # client that is a body that is not JSON, the documented 422.
        invalid = AppError("The request body is not valid JSON.", code="invalid_json", status=422)
        return _error_response(request, invalid)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "The request failed."
    if exc.status_code == 404:
        message = "No such route."
    error = AppError(message, code=code, status=exc.status_code, headers=dict(exc.headers or {}))
    return _error_response(request, error)


async def _dependency_error(request: Request, exc: Exception) -> JSONResponse:
    """MongoDB or Redis down: 503 `dependency_unavailable` with Retry-After, rendered here
    (inside CORS, so browsers can read it). Any other driver error is a bug: re-raised, the
    middleware answers the generic 500 with the request id."""
    error = dependency_error(exc)
    if error is None:
        raise exc
    return _error_response(request, error)


# The drivers' base classes; `dependency_error` decides which of their errors are outages.
_DRIVER_ERRORS: tuple[type[Exception], ...] = (
    mongo_errors.PyMongoError,
    redis_errors.RedisError,
    limits_errors.StorageError,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="StarGuide API",
        version="0.1.0",
        description="Backend of the StarGuide AI learning mentor. Contract: docs and README.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    privacy_service.install(privacy_registry())
    app.state.gateway = Gateway(settings)
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for driver_error in _DRIVER_ERRORS:
        app.add_exception_handler(driver_error, _dependency_error)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["X-Request-ID", "Retry-After"],
    )
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        # Document uploads have their own cap (plus room for the multipart framing); the
        # service refuses a file above DOCUMENT_MAX_BYTES exactly.
        path_max_body_bytes={
            f"{API_PREFIX}/documents": settings.document_max_bytes + _MULTIPART_OVERHEAD_BYTES
        },
    )
    # Outermost: counts every answer by route template, the 413s and 500s above included.
    app.add_middleware(HttpMetricsMiddleware)
    app.include_router(health_router)
    app.include_router(health_router, prefix=API_PREFIX)
    app.include_router(metrics_router)  # GET /metrics (docs/OPERATIONS.md), not in OpenAPI
    app.include_router(badges_router)  # the achievements' image URLs: /badges/<code>.svg
    for router in (
        auth_router,
        oidc_router,
        users_router,
        conversations_router,
        chat_router,
        groups_router,
        group_dashboard_router,  # GET /groups/{id}/progress: a read model above the features
        progress_router,
        learner_dashboard_router,  # GET /progress/me
        leaderboard_router,
        quiz_router,
        questions_router,
        library_router,
        practice_router,
        jobs_router,
        privacy_router,
        admin_router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    # The web app (docs/WEBAPP.md): `/`, its client-side pages and `/app/*`, registered last
    # and listed path by path, so it never shadows /api/v1, /socket.io, /docs or /badges.
    app.include_router(webapp_router)
    # Traces and Sentry when configured (server/telemetry.py): nothing is imported otherwise.
    telemetry.install(app, settings)
    # Every status each route can answer, in the error shape (server/openapi.py).
    openapi.install(app)
    return app


def create_asgi_app(settings: Settings | None = None, *, freeze_heap: bool = False) -> ASGIApp:
    """What `python -m server` serves: the API, with the Socket.IO gateway at /socket.io.
    `freeze_heap`: once started, the start-up heap leaves the garbage collector's view."""
    app = create_app(settings)
    app.state.freeze_heap = freeze_heap
    gateway: Gateway = app.state.gateway
    return gateway.asgi(app)
