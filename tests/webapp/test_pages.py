"""Every page of the web app: no serious or critical axe-core violation, no horizontal scroll
on a 390 px phone, and a screenshot at phone and desktop size in .data/screenshots/."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.webapp.conftest import (
    AXE,
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    Watched,
    WebServer,
    sign_up,
)

pytestmark = pytest.mark.slow


# Each word of each table header that the layout broke across lines (a word's text range
# drawn as more than one box).
SPLIT_HEADER_WORDS = """() => [...document.querySelectorAll('th')].flatMap(th => {
  const out = [];
  for (const node of th.childNodes) {
    if (node.nodeType !== Node.TEXT_NODE) continue;
    for (const m of node.textContent.matchAll(/\\S+/g)) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      if (range.getClientRects().length > 1) out.push(m[0]);
    }
  }
  return out;
})"""


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations of the page as it is now."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE))
    result = await page.evaluate(
        "() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map("
        "v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target)})))"
    )
    return [v for v in result if v["impact"] in ("serious", "critical")]


async def check_page(page: Page, name: str) -> None:
    violations = await axe_violations(page)
    assert not violations, f"{name}: {violations}"
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{name} scrolls sideways on a phone: {width}px"
    split = await page.evaluate(SPLIT_HEADER_WORDS)
    assert not split, f"{name}: table headers break inside a word on a phone: {split}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # The whole page at phone width, in a screen as tall as the page: a full-page capture of a
    # phone-tall screen would draw the sticky message box or timer half-way down the picture.
    height = await page.evaluate("document.documentElement.scrollHeight")
    await page.set_viewport_size({"width": PHONE["width"], "height": max(PHONE["height"], height)})
    await page.wait_for_timeout(100)
    await page.screenshot(path=SCREENSHOTS / f"{name}-phone.png", full_page=True)
    await page.set_viewport_size(DESKTOP)
    await page.wait_for_timeout(100)
    await page.screenshot(path=SCREENSHOTS / f"{name}-desktop.png")
    await page.set_viewport_size(PHONE)


async def _chat(page: Page) -> None:
    await page.get_by_role("textbox", name="Message").fill("What is Newton's second law?")
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_role("button", name="Regenerate")).to_be_visible(timeout=60_000)
    await expect(page.get_by_role("button", name="Send")).to_be_visible()


async def _practice(page: Page) -> None:
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Practice").click()
    await expect(page.get_by_role("button", name="Check")).to_be_visible()
    await expect(page.get_by_role("button", name="Start mock test")).to_be_visible()


async def _progress(page: Page) -> None:
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Progress").click()
    await expect(page.get_by_role("heading", name=re.compile(r"^Level \d+$"))).to_be_visible()
    await expect(page.get_by_role("heading", name=re.compile(r"^Badges"))).to_be_visible()
    # The contract's progress items, each found once by its text as a client would.
    for text in ("Badges", "Weak topics", "streak", "Level 1"):
        await expect(page.get_by_text(text)).to_have_count(1)
    await expect(page.get_by_role("heading", name="This week's leaderboard")).to_be_visible()
    # Each section is one region of its name (a table's scrolling wrapper is not another).
    for section in ("Summary", "Weak topics", "This week's leaderboard"):
        await expect(page.get_by_role("region", name=section)).to_have_count(1)


async def _library(page: Page) -> None:
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Library").click()
    await expect(page.get_by_label("Upload document")).to_be_visible()
    await expect(page.get_by_text("No documents yet.")).to_be_visible()


async def _groups(page: Page) -> None:
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Groups").click()
    await expect(page.get_by_label("Invite code")).to_be_visible()


SIGNED_IN: list[tuple[str, Callable[[Page], Awaitable[None]]]] = [
    ("chat", _chat),
    ("practice", _practice),
    ("progress", _progress),
    ("library", _library),
    ("groups", _groups),
]


async def test_every_page_is_accessible_fits_a_phone_and_is_captured(
    browser: Browser, server: WebServer
) -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make test` installs tests/node (npm ci)")
    # axe-core is injected as a script, which the app's CSP rightly refuses: this context
    # alone bypasses the CSP (the other tests run under it).
    context = await browser.new_context(viewport=PHONE, base_url=server.url, bypass_csp=True)
    watched = Watched(context, await context.new_page(), server.url)
    page = watched.page
    try:
        await page.goto("/")
        await expect(page.get_by_role("button", name="Create account")).to_be_visible()
        await check_page(page, "start")
        await page.goto("/login")
        await expect(page.get_by_role("button", name="Log in")).to_be_visible()
        await check_page(page, "login")
        await page.goto("/forgot")
        await expect(page.get_by_role("button", name="Send reset link")).to_be_visible()
        await check_page(page, "forgot")
        await page.goto("/signup")
        await expect(page.get_by_role("button", name="Create account")).to_be_visible()
        await check_page(page, "signup")
        # The reset page the mail links to (the token leaves the address bar at once).
        await page.goto("/reset?token=not-a-real-token")
        await expect(page.get_by_role("button", name="Set new password")).to_be_visible()
        await check_page(page, "reset")
        await sign_up(page)
        for name, open_page in SIGNED_IN:
            await open_page(page)
            await check_page(page, name)
        # A mock test while it runs (the timer) and its result by topic.
        await _practice(page)
        await page.get_by_label("Questions").fill("3")
        await page.get_by_role("button", name="Start mock test").click()
        await expect(page.get_by_role("timer")).to_be_visible()
        await check_page(page, "mock-test")
        await page.get_by_role("button", name="Submit test").first.click()
        await expect(page.get_by_role("heading", name="By topic")).to_be_visible()
        await check_page(page, "mock-test-result")
    finally:
        await context.close()
    assert not watched.errors, watched.errors
