"""`python -m server`: validate settings, take HOST:PORT, then serve the API and Socket.IO.

The port is bound before anything else starts (the embedded database, the lifespan's
"starguide ready"): a busy port fails at once with a clear message and exit code 1, instead
of a server that starts everything, says it is ready, and then dies on `bind`. The socket is
listening from then on, so connections made during start-up wait and are then served.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys

import uvicorn
from pydantic import ValidationError

from server import shutdown
from server.config import Settings
from server.logs import configure_logging

log = logging.getLogger("starguide")


def bind_listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port and listening, as uvicorn would bind it (IPv6 when the
    host is an IPv6 address); raises `OSError` when the address is busy or not ours."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if os.name != "nt":
            # Rebinding right after a restart (TIME_WAIT) is fine; a live listener still
            # refuses us. (On Windows the same flag would let us steal a busy port.)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)  # uvicorn's default backlog
    except OSError:
        sock.close()
        raise
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, marking when its graceful shutdown begins: the lifespan gives
    replies uvicorn does not wait for (started over Socket.IO) what is left of the same grace."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        shutdown.begin()
        await super().shutdown(sockets)


def main() -> None:
    configure_logging()
    try:
        settings = Settings()
    except ValidationError as exc:
        # Print only what is wrong, never the values (they may be secrets).
        for err in exc.errors(include_input=False, include_url=False):
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            print(f"starguide: configuration error: {where}: {err['msg']}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        sock = bind_listening_socket(settings.host, settings.port)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(
            f"starguide: cannot listen on {settings.host}:{settings.port}: {reason}. "
            "Is another server running there? Stop it or set PORT (or HOST).",
            file=sys.stderr,
        )
        raise SystemExit(1) from None
    log.info("starguide listening", extra={"host": settings.host, "port": settings.port})
    from server.app import create_asgi_app

    config = uvicorn.Config(
        create_asgi_app(settings, freeze_heap=True),
        host=settings.host,
        port=settings.port,
        log_config=None,
        proxy_headers=True,
        # The same trust as server.auth.clients, so uvicorn's client and ours agree.
        forwarded_allow_ips=settings.forwarded_allow_ips,
        server_header=False,
        # On SIGTERM uvicorn stops listening, closes websockets (1012: clients reconnect
        # elsewhere) and waits for running requests, streamed replies included, this long.
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )
    server = _Server(config)
    with sock, contextlib.suppress(KeyboardInterrupt):
        # Ctrl-C (SIGINT) is a normal stop, after the lifespan closed everything: no
        # traceback, as `uvicorn.run` does.
        server.run(sockets=[sock])
    if not server.started:
        raise SystemExit(3)  # as `uvicorn.run`: the start-up failed (the log says why)


if __name__ == "__main__":
    main()
