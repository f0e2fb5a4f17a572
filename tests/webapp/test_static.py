"""The web app's files and how the server serves them: headers, caching, routes, budget."""

from __future__ import annotations

import re

import httpx
import pytest

from server.webapp.router import PAGES, STATIC_DIR
from tests.webapp.conftest import WebServer

SCRIPT_BUDGET_BYTES = 150 * 1024


def test_the_scripts_stay_under_150_kb_uncompressed() -> None:
    scripts = list(STATIC_DIR.glob("*.js"))
    assert scripts
    total = sum(path.stat().st_size for path in scripts)
    assert total < SCRIPT_BUDGET_BYTES, f"{total} bytes of script"


def test_no_inline_script_or_style_and_no_markup_from_strings() -> None:
    html = (STATIC_DIR / "index.html").read_text()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag, tag
    assert "<style" not in html
    assert " style=" not in html
    assert re.search(r"\son[a-z]+=", html) is None
    for path in STATIC_DIR.glob("*.js"):
        code = path.read_text()
        # Text goes through textContent; the CSP's Trusted Types rule would refuse these anyway.
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in code, f"{path.name} uses {sink}"


@pytest.mark.slow
async def test_pages_carry_the_security_headers(server: WebServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        for path in ("/", "/chat", "/chat/6b0234ed216733e0eed51a71", "/reset", "/library"):
            response = await client.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-type"].startswith("text/html")
            csp = response.headers["content-security-policy"]
            for directive in (
                "default-src 'self'",
                "script-src 'self'",
                "style-src 'self'",
                "connect-src 'self'",
                "frame-ancestors 'none'",
                "object-src 'none'",
            ):
                assert directive in csp, (path, directive)
            assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"
            assert "camera=()" in response.headers["permissions-policy"]
            # A reset or claim token may sit in the URL: the page is never cached.
            assert response.headers["cache-control"] == "no-store"


@pytest.mark.slow
async def test_static_files_are_revalidated_by_etag(server: WebServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        for name in ("app.js", "app.css", "api.js"):
            first = await client.get(f"/app/{name}")
            assert first.status_code == 200
            etag = first.headers["etag"]
            assert first.headers["cache-control"] == "no-cache"
            assert first.headers["x-content-type-options"] == "nosniff"
            again = await client.get(f"/app/{name}", headers={"If-None-Match": etag})
            assert again.status_code == 304
            assert again.content == b""
        assert (
            (await client.get("/app/app.js")).headers["content-type"].startswith("text/javascript")
        )


@pytest.mark.slow
async def test_the_app_never_shadows_the_api_or_serves_other_files(server: WebServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        missing = await client.get("/api/v1/no-such-route")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        metrics = await client.get("/metrics")  # allowed from loopback
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
        assert (await client.get("/openapi.json")).status_code == 200
        assert (await client.get("/docs")).status_code == 200
        assert (await client.get("/badges/no-such-badge.svg")).status_code == 404
        for path in ("/app/..%2Frouter.py", "/app/router.py", "/app/.hidden.js", "/nope"):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert response.headers["content-type"].startswith("application/json"), path
        # The OpenAPI document lists no page of the app.
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert not [p for p in PAGES if p in paths]
