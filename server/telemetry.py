"""Traces (OpenTelemetry over OTLP/HTTP) and error reports (Sentry), both off unless configured.

`install(app, settings)` runs in `create_app`. With `OTEL_EXPORTER_OTLP_ENDPOINT` it sets up the
SDK once per process (batched OTLP/HTTP export to `<endpoint>/v1/traces`), instruments the app
(one span per request, named by route template), PyMongo (command name and collection only,
never the command document; a failure's span carries the error's code name, not its message,
which can quote a duplicate key) and redis (the command with its arguments as `?`), and
`provider_wrapper()` then wraps each AI provider so every call is a span with provider, model,
token counts and finish reason. With `SENTRY_DSN` it starts Sentry without personal data,
request bodies or local variables, and `scrub_event` keeps only harmless request headers.

Never in a span or an event: message text, prompts, tokens or passwords, query strings (an
admin's user search is an e-mail address). Nothing of either library is imported while its
setting is unset: the lazy imports below are the point, not an accident.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from ai_router.providers.base import Provider, ProviderCall, ProviderEvent, ProviderFinish
from ai_router.providers.base import ProviderUsage as _Usage
from server.config import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from sentry_sdk.types import Event, Hint

log = logging.getLogger("starguide.telemetry")

SERVICE_NAME = "starguide"
# Health checks and scrapes every few seconds would drown the traces that matter.
_UNTRACED_URLS = "/metrics,/healthz,/readyz,/api/v1/healthz,/api/v1/readyz"
# Request headers a Sentry event may keep; everything else (Authorization, Cookie, API keys,
# forwarded addresses) is dropped.
_SAFE_HEADERS = frozenset(
    {"accept", "content-type", "content-length", "user-agent", "x-request-id"}
)
_SAFE_CRUMB_DATA = frozenset({"method", "status_code", "url", "reason"})
REDACTED = "[redacted]"
# Span attributes that carry a URL or its query string, as the HTTP instrumentations name them.
_URL_ATTRIBUTES = ("http.url", "url.full", "http.target")
_QUERY_ATTRIBUTES = ("url.query",)

_tracer_provider: TracerProvider | None = None


def install(app: FastAPI, settings: Settings) -> None:
    """Traces and error reports for this app, as configured (nothing when neither is)."""
    if settings.otel_exporter_otlp_endpoint:
        _install_tracing(app, settings.otel_exporter_otlp_endpoint)
    if settings.sentry_dsn is not None:
        _install_sentry(settings)


def tracer_provider() -> TracerProvider | None:
    """The SDK's provider when tracing is on (tests add an in-memory exporter to it)."""
    return _tracer_provider


def provider_wrapper() -> Callable[[Provider], Provider] | None:
    """For `AIRouter.from_config`: wraps each AI provider in a span, or None when tracing is
    off (the providers are then used as they are, at no cost)."""
    if _tracer_provider is None:
        return None
    tracer = _tracer_provider.get_tracer("starguide.ai")
    return lambda provider: _TracedProvider(provider, tracer)


# ---- traces ---------------------------------------------------------------------------------
def _install_tracing(app: FastAPI, endpoint: str) -> None:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    provider = _start_tracing(endpoint)
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls=_UNTRACED_URLS,
        # No span per ASGI message: an SSE reply sends one per token.
        exclude_spans=["receive", "send"],
        server_request_hook=_redact_request,
    )


def _start_tracing(endpoint: str) -> TracerProvider:
    """The process's tracer provider, started once (several apps in one process share it)."""
    global _tracer_provider
    if _tracer_provider is not None:
        return _tracer_provider
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES still win over our default name.
    resource = Resource({"service.name": SERVICE_NAME}).merge(OTELResourceDetector().detect())
    provider = TracerProvider(resource=resource)
    url = endpoint.rstrip("/") + "/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    # Handed to each instrumentation, not made the global provider: FastAPI's own (native)
    # telemetry would otherwise switch itself on for every app of the process as well.
    PymongoInstrumentor().instrument(
        tracer_provider=provider, capture_statement=False, failed_hook=_mongo_failed
    )
    RedisInstrumentor().instrument(tracer_provider=provider)
    _tracer_provider = provider
    log.info("traces exported over OTLP/HTTP", extra={"otlp_endpoint": url})
    return provider


def stop_tracing() -> None:
    """Exports what is pending and switches the instrumentations off (tests; the SDK also
    flushes at interpreter exit by itself)."""
    global _tracer_provider
    if _tracer_provider is None:
        return
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    PymongoInstrumentor().uninstrument()
    RedisInstrumentor().uninstrument()
    _tracer_provider.shutdown()
    _tracer_provider = None


def _mongo_failed(span: Any, event: Any) -> None:
    """The error's code name instead of its message (a duplicate key error quotes the key)."""
    from opentelemetry.trace import Status, StatusCode

    failure = getattr(event, "failure", None) or {}
    span.set_status(Status(StatusCode.ERROR, str(failure.get("codeName", "MongoError"))))


def _redact_request(span: Any, scope: Any = None) -> None:
    """The request span's hook (it runs once the instrumentation has set the URL attributes):
    URLs lose their query string, the query itself is withheld."""
    if not span.is_recording():
        return
    attributes = getattr(span, "attributes", None) or {}
    for key in _URL_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str) and "?" in value:
            span.set_attribute(key, value.split("?", 1)[0])
    for key in _QUERY_ATTRIBUTES:
        if attributes.get(key):
            span.set_attribute(key, "redacted")


class _TracedProvider:
    """An AI provider whose every call is a CLIENT span (OpenTelemetry's GenAI attribute
    names): provider, model, the token counts the vendor reported, the finish reason, and the
    error code of a failed call. The span is started, not made current: it lives across the
    stream's yields, where a context attach/detach would pair across tasks."""

    def __init__(self, inner: Provider, tracer: Any) -> None:
        self._inner = inner
        self._tracer = tracer
        self.name = inner.name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._inner, attribute)

    async def stream(self, call: ProviderCall) -> AsyncGenerator[ProviderEvent, None]:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        span = self._tracer.start_span(
            f"chat {call.model}",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.system": self.name,
                "gen_ai.request.model": call.model,
                "gen_ai.request.max_tokens": call.max_tokens,
                "starguide.ai.continuation": call.partial is not None,
            },
        )
        first = True
        try:
            async with aclosing(self._inner.stream(call)) as events:
                async for event in events:
                    if isinstance(event, str):
                        if first:
                            first = False
                            span.add_event("first_token")
                    elif isinstance(event, _Usage):
                        span.set_attribute("gen_ai.usage.input_tokens", event.input_tokens)
                        span.set_attribute("gen_ai.usage.output_tokens", event.output_tokens)
                    elif isinstance(event, ProviderFinish):
                        span.set_attribute("gen_ai.response.finish_reasons", [event.reason])
                    yield event
        except GeneratorExit:
            span.set_attribute("starguide.ai.closed_early", True)
            raise
        except BaseException as exc:
            code = str(getattr(exc, "code", None) or type(exc).__name__)
            span.set_attribute("error.type", code)
            span.set_status(Status(StatusCode.ERROR, code))
            raise
        finally:
            span.end()

    async def aclose(self) -> None:
        await self._inner.aclose()


# ---- errors ---------------------------------------------------------------------------------
def _install_sentry(settings: Settings) -> None:
    import sentry_sdk

    assert settings.sentry_dsn is not None
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.environment,
        send_default_pii=False,
        # Bodies hold passwords and learners' messages; stack locals can hold either.
        max_request_body_size="never",
        include_local_variables=False,
        before_send=scrub_event,
        before_breadcrumb=scrub_breadcrumb,
        # The vendor SDK integrations report every failed call as an unhandled error, although
        # the router handles it (retry, failover: a breaker metric, not an incident), and wrap
        # every streamed chunk of the hot path.
        disabled_integrations=_vendor_integrations(),
    )
    log.info("errors reported to Sentry")


def _vendor_integrations() -> list[Any]:
    from sentry_sdk.integrations.anthropic import AnthropicIntegration
    from sentry_sdk.integrations.google_genai import GoogleGenAIIntegration
    from sentry_sdk.integrations.openai import OpenAIIntegration

    return [OpenAIIntegration, AnthropicIntegration, GoogleGenAIIntegration]


def scrub_event(event: Event, hint: Hint) -> Event:
    """Sentry's `before_send`: the request keeps its method, URL without query and the
    harmless headers; its body, cookies, query string and every other header go. Exception
    messages and log arguments go too (the type, the stack and the log's format string stay):
    a driver's duplicate-key error names the key (an e-mail), a validation error quotes the
    input, and neither is ours to send."""
    for exception in (event.get("exception") or {}).get("values") or ():
        if isinstance(exception, dict) and exception.get("value"):
            exception["value"] = REDACTED
    logentry = event.get("logentry")
    if isinstance(logentry, dict):
        logentry.pop("params", None)
        logentry.pop("formatted", None)
    event.pop("message", None)  # the formatted log line, when the SDK sets it
    event.pop("extra", None)
    breadcrumbs = event.get("breadcrumbs")
    if isinstance(breadcrumbs, dict):
        breadcrumbs["values"] = [
            scrub_breadcrumb(crumb, {}) for crumb in breadcrumbs.get("values") or ()
        ]
    request = event.get("request")
    if isinstance(request, dict):
        for key in ("data", "cookies", "query_string", "env"):
            request.pop(key, None)
        url = request.get("url")
        if isinstance(url, str):
            request["url"] = url.split("?", 1)[0]
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {k: v for k, v in headers.items() if k.lower() in _SAFE_HEADERS}
    event.pop("user", None)
    return event


def scrub_breadcrumb(crumb: Any, hint: Any) -> Any:
    """Breadcrumbs keep what happened, not what it said: a log line's text and arguments and an
    HTTP call's query string go; the category, level, method, status and path stay."""
    if not isinstance(crumb, dict):
        return crumb
    crumb.pop("message", None)
    data = crumb.get("data")
    if isinstance(data, dict):
        kept = {k: v for k, v in data.items() if k in _SAFE_CRUMB_DATA}
        url = kept.get("url")
        if isinstance(url, str):
            kept["url"] = url.split("?", 1)[0]
        crumb["data"] = kept
    return crumb
