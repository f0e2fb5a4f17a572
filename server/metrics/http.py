"""The HTTP requests metric: a pure ASGI middleware, outermost, so it counts what clients got.

Labels are the matched route's template (Starlette puts the route in the scope when it
matches, also for a 405), never the raw path: `/api/v1/conversations/{conversation_id}`, and
`unmatched` for anything no route matched. Latency is the time to the response headers: for a
JSON answer that is the whole work, for an SSE stream it is the time to the stream's start (the
stream itself lasts as long as the reply; its time to first token has its own histogram).
Socket.IO (`/socket.io`) is served beside the API and never reaches this middleware.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.metrics import instruments

UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope) -> str:
    """The template of the route that matched, or `unmatched`.

    FastAPI (0.16x) resolves routes of included routers lazily: the scope's `route` is then
    the router's own route (`/{conversation_id}`), and the full template (with the include's
    prefix) is on the effective route context FastAPI keeps under `scope["fastapi"]`, which
    its own telemetry reads too. Routes added to the app itself have their full path.
    """
    context = (scope.get("fastapi") or {}).get("effective_route_context")
    path = getattr(context, "path_format", None)
    if not (isinstance(path, str) and path):
        path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answered = False

        async def timed_send(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start" and not answered:
                answered = True
                _observe(scope, message["status"], time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        except BaseException as exc:
            if not answered:
                answered = True
                # The server answers 500 for an error that escaped everything; a request
                # cancelled before any answer (the client went away) is nginx's 499.
                status = 500 if isinstance(exc, Exception) else 499
                _observe(scope, status, time.perf_counter() - started)
            raise


def _observe(scope: Scope, status: int, seconds: float) -> None:
    method = scope.get("method", "GET")
    if method not in _METHODS:
        method = "OTHER"
    route = route_template(scope)
    instruments.http_requests.labels(route=route, method=method, status=str(status)).inc()
    instruments.http_duration.labels(route=route, method=method).observe(seconds)
