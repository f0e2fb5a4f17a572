"""Browser tests of the web app: one real server and one real Chromium for the whole run.

The server is `python -m server` in a child process (the embedded or session MongoDB, a fresh
database and data dir, the offline mentor slowed to 30 ms a word so streaming is visible).
The browser is Debian's Chromium driven by Playwright (never `playwright install`: nothing is
downloaded). Each test gets its own browser context (fresh storage) and fails on any console
error or uncaught exception of its pages.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    ViewportSize,
    async_playwright,
    expect,
)

from tests.auth.oidc_peer import OpenIdProvider
from tests.conftest import free_port
from tests.realtime.conftest import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "tests" / "node" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / ".data" / "screenshots"
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PASSWORD = "correct horse battery"
SSO_PROVIDER = "school"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

expect.set_options(timeout=15_000)


class WebServer(ServerProcess):
    """One StarGuide instance serving the web app, in its own process (the realtime tests'
    server process, with a real OpenID provider and the web app's own origin)."""

    READY_TIMEOUT_S = 90.0

    def __init__(self, *, mongo_url: str, data_dir: Path) -> None:
        super().__init__(
            mongo_url=mongo_url, db=f"webapp_{uuid.uuid4().hex[:10]}", data_dir=data_dir
        )
        self.data_dir = data_dir
        # A real OpenID provider (tests/node), offered as "School" on the login page.
        self.op = OpenIdProvider(
            free_port(), [f"{self.url}/api/v1/auth/oidc/{SSO_PROVIDER}/callback"]
        )
        sso = {
            "issuer": self.op.issuer,
            "client_id": "starguide",
            "client_secret": "starguide-secret",
        }
        self.env |= {
            # Slow enough that a reply visibly grows and can be stopped half-way.
            "OFFLINE_TOKEN_DELAY_MS": "30",
            "PUBLIC_URL": self.url,
            "CORS_ORIGINS": self.url,
            "OIDC_PROVIDERS": json.dumps({SSO_PROVIDER: sso}),
        }

    async def stop(self) -> None:
        await asyncio.to_thread(self.op.stop)
        await super().stop()


@pytest.fixture(scope="session")
async def server(
    mongo_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[WebServer]:
    web = WebServer(mongo_url=mongo_url, data_dir=tmp_path_factory.mktemp("webapp"))
    try:
        await web.start()
        yield web
    finally:
        await web.stop()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():  # noqa: ASYNC240 - once per run, before anything starts
        pytest.fail(
            f"{CHROMIUM} is missing: `apt-get install chromium` (.ci/run does); "
            "never `playwright install`"
        )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


class Watched:
    """A page and the console errors and uncaught exceptions seen on it."""

    def __init__(self, context: BrowserContext, page: Page, origin: str) -> None:
        self.context = context
        self.origin = origin
        self.page = page
        self.errors: list[str] = []
        # URLs whose error status a test provokes on purpose (a wrong password's 401): Chromium
        # logs "Failed to load resource" for them, which is not a fault of the app.
        self.expected_failures: set[str] = set()
        page.on("console", self.on_console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

    def on_console(self, message: Any) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        if url and not url.startswith(self.origin):
            return  # another site's page (the OpenID provider's login form), not the app
        if message.text.startswith("Failed to load resource") and any(
            url.endswith(path) for path in self.expected_failures
        ):
            return
        self.errors.append(f"console: {message.text} ({message.location})")


@pytest.fixture
async def watched(browser: Browser, server: WebServer) -> AsyncIterator[Watched]:
    """A fresh context (its own storage) at phone size; any console error fails the test."""
    context = await browser.new_context(viewport=PHONE, base_url=server.url)
    watched = Watched(context, await context.new_page(), server.url)
    try:
        yield watched
    finally:
        await context.close()
    if watched.errors:
        pytest.fail("console errors in the web app:\n" + "\n".join(watched.errors))


@pytest.fixture
def page(watched: Watched) -> Page:
    return watched.page


NAV_LABELS = ("Chat", "Practice", "Progress", "Library")


async def expect_nav_labels_name_one_link_each(page: Page) -> None:
    """Each of the contract's navigation labels names exactly one link on the page as it is
    now, matched as Playwright does by default (a case-insensitive substring): a "Back to the
    library" or "Open group chat" link would make the client's "Library" or "Chat" ambiguous."""
    for label in NAV_LABELS:
        await expect(page.get_by_role("link", name=label)).to_have_count(1)


def new_email() -> str:
    return f"learner-{uuid.uuid4().hex[:10]}@example.com"


async def sign_up(page: Page, *, name: str = "Asha", email: str | None = None) -> str:
    """Sign up through the form, as a new learner would; returns the email."""
    email = email or new_email()
    await page.goto("/")
    await expect(page.get_by_role("button", name="Create account")).to_be_visible()
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("button", name="Log out")).to_be_visible()
    await expect(page.get_by_role("textbox", name="Message")).to_be_visible()
    return email


async def stored_refresh_token(page: Page) -> str | None:
    token = await page.evaluate("localStorage.getItem('starguide.refresh_token')")
    return token if isinstance(token, str) else None
