"""`python -m server`: validate settings, then serve the API and Socket.IO on HOST:PORT."""

from __future__ import annotations

import sys

import uvicorn
from pydantic import ValidationError

from server.config import Settings
from server.logs import configure_logging


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
    from server.app import create_asgi_app

    uvicorn.run(
        create_asgi_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        proxy_headers=True,
        server_header=False,
    )


if __name__ == "__main__":
    main()
