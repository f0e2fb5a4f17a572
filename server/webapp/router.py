"""Serves the web app: `index.html` for the app's pages, its scripts and styles under `/app/`.

The app is plain files (no build step), so this router only has to serve them safely: every
answer carries a strict Content-Security-Policy (no inline script or style, connections to this
origin only, no framing) and the other security headers, and static files are revalidated by
ETag, so a deploy is picked up at once while an unchanged file costs a 304.

Only the listed client-side routes fall back to `index.html`: a typo under `/api/v1` or any
other path still gets the API's 404 in the contract's error shape.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request, Response

from server.errors import AppError

STATIC_DIR = Path(__file__).parent / "static"

# `require-trusted-types-for 'script'`: the app never builds markup from strings, so Chromium
# refuses any innerHTML-style sink outright; a missed escaping bug cannot become script.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # Badge art is ours (/badges/...) or an absolute https:// URL from the catalog.
        "img-src 'self' https: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": ("camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
}
# No fingerprinted names without a build step: the browser keeps a copy and asks with
# If-None-Match each time (a 304 when nothing changed), so modules never mix versions.
STATIC_CACHE_CONTROL = "no-cache"
# Pages may hold a reset or claim token in their URL until the app removes it: never stored.
PAGE_CACHE_CONTROL = "no-store"

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
}

# Client-side routes (static/app.js's ROUTES): each answers index.html.
PAGES = (
    "/",
    "/signup",
    "/login",
    "/forgot",
    "/reset",
    "/claim",
    "/chat",
    "/chat/{conversation_id}",
    "/practice",
    "/practice/tests/{test_id}",
    "/progress",
    "/library",
    "/library/{document_id}",
    "/groups",
    "/groups/{group_id}",
)

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    etag: str
    media_type: str
    mtime_ns: int


_cache: dict[Path, StaticFile] = {}


class AssetNotFound(AppError):
    def __init__(self) -> None:
        super().__init__("No such file.", code="not_found", status=404)


def _load(path: Path) -> StaticFile:
    """The file's bytes and ETag, read again only when it changed on disk."""
    mtime_ns = path.stat().st_mtime_ns
    cached = _cache.get(path)
    if cached is not None and cached.mtime_ns == mtime_ns:
        return cached
    body = path.read_bytes()
    loaded = StaticFile(
        body=body,
        etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
        media_type=_TYPES.get(path.suffix, "application/octet-stream"),
        mtime_ns=mtime_ns,
    )
    _cache[path] = loaded
    return loaded


def _resolve(name: str) -> Path:
    """A file directly inside STATIC_DIR with a served type; nothing else (no `..`, no dirs)."""
    if "/" in name or "\\" in name or name.startswith("."):
        raise AssetNotFound
    path = STATIC_DIR / name
    if path.suffix not in _TYPES or not path.is_file():
        raise AssetNotFound
    return path


def _answer(request: Request, path: Path, cache_control: str) -> Response:
    loaded = _load(path)
    headers = {**SECURITY_HEADERS, "Cache-Control": cache_control, "ETag": loaded.etag}
    if request.headers.get("if-none-match") == loaded.etag:
        return Response(status_code=304, headers=headers)
    return Response(content=loaded.body, media_type=loaded.media_type, headers=headers)


@router.get("/app/{name}")
async def static_file(name: str, request: Request) -> Response:
    return _answer(request, _resolve(name), STATIC_CACHE_CONTROL)


async def page(request: Request) -> Response:
    """Every client-side route answers the same shell; the script draws the page."""
    return _answer(request, STATIC_DIR / "index.html", PAGE_CACHE_CONTROL)


for _path in PAGES:
    router.add_api_route(_path, page, methods=["GET"])
