"""Pure ASGI middleware: request ids, access logs and the body-size cap.

Written at the ASGI level (not BaseHTTPMiddleware) so streamed responses (SSE) pass through
unbuffered and the cap applies to chunked bodies without a Content-Length too.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import AppError, PayloadTooLarge, dependency_error
from server.logs import request_id_var

log = logging.getLogger("starguide.access")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        path_max_body_bytes: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # Routes that take larger bodies (document uploads): exact path -> their own cap.
        self.path_max_body_bytes = dict(path_max_body_bytes or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        declared = dict(scope["headers"]).get(b"content-length")
        received = 0
        cap = self.path_max_body_bytes.get(scope.get("path", ""), self.max_body_bytes)
        too_large = f"The request body is larger than {cap} bytes."

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    # FastAPI re-raises HTTPException from body reading; the app's handler
                    # renders it in the contract's shape.
                    raise HTTPException(status_code=413, detail=too_large)
            return message

        try:
            if declared is not None and declared.isdigit() and int(declared) > cap:
                await self._send_error(
                    send_with_id, PayloadTooLarge(too_large, details={"max_bytes": cap})
                )
            else:
                try:
                    await self.app(scope, capped_receive, send_with_id)
                except Exception as exc:
                    # The last resort for what the app's handlers did not render (a driver
                    # error wrapped by a library, or raised in a streamed body): an outage
                    # is a 503 (logged once a minute by `dependency_error`), anything else a
                    # generic 500 that carries the request id, its traceback in the log.
                    outage = dependency_error(exc)
                    if outage is None:
                        log.exception("unhandled error", extra={"path": scope.get("path")})
                    if response_started:
                        raise
                    await self._send_error(
                        send_with_id,
                        outage
                        or AppError(
                            "Something went wrong on our side.",
                            code="internal_error",
                            status=500,
                            details={"request_id": request_id},
                        ),
                    )
        finally:
            log.info(
                "request",
                extra={
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id_var.reset(token)

    async def _send_error(self, send: Send, error: AppError) -> None:
        body = json.dumps(error.body()).encode()
        headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items()
        ]
        await send(
            {
                "type": "http.response.start",
                "status": error.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
