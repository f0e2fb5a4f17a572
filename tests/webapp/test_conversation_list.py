"""The chat's list of conversations is a listbox of options, never links or buttons: a title
taken from the learner's first message ("How is my progress in practice?") must not make the
contract's "Progress" or "Practice" name two links (contract: Web app). On a phone the list is a
strip across the top of the chat, on screen without opening anything."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, ViewportSize, expect

from tests.webapp.conftest import PHONE, expect_nav_labels_name_one_link_each, sign_up

pytestmark = pytest.mark.slow

WIDE: ViewportSize = {"width": 1280, "height": 720}
QUESTION = "How is my progress in practice?"


async def send(page: Page, text: str) -> None:
    await page.get_by_role("textbox", name="Message").fill(text)
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_role("button", name="Regenerate")).to_be_visible(timeout=60_000)


async def test_titles_never_make_the_navigation_ambiguous_and_reopen_by_keyboard(
    page: Page,
) -> None:
    await page.set_viewport_size(WIDE)
    await sign_up(page)
    await send(page, QUESTION)
    await expect(page).to_have_url(re.compile(r"/chat/[0-9a-f]{24}$"))
    asked = page.url
    # A second conversation, so the arrow keys have somewhere to go.
    await page.get_by_role("button", name="New chat").click()
    await send(page, "Hello there")
    await expect(page).not_to_have_url(asked)

    for size, open_with in ((WIDE, "Enter"), (PHONE, "Space")):
        await page.set_viewport_size(size)
        # A fresh chat, so opening the asked conversation is a real navigation.
        await page.get_by_role("navigation", name="Main").get_by_role("link", name="Chat").click()
        await expect(page).to_have_url(re.compile(r"/chat$"))
        await expect(page.locator(".convs").get_by_text(QUESTION)).to_be_visible()
        # The title is listed and shown, yet each navigation name is still one link.
        for label in ("Progress", "Practice"):
            assert await page.get_by_role("link", name=label).count() == 1, (size, label)
        await expect_nav_labels_name_one_link_each(page)

        conversations = page.get_by_role("listbox", name="Conversations")
        options = conversations.get_by_role("option")
        await expect(options).to_have_count(2)
        await expect(options.first).to_be_in_viewport()
        forward, back = ("ArrowRight", "ArrowLeft") if size is PHONE else ("ArrowDown", "ArrowUp")
        await expect(conversations).to_have_attribute(
            "aria-orientation", "horizontal" if size is PHONE else "vertical"
        )
        await expect(conversations.get_by_role("option", selected=True)).to_have_count(0)
        # Tab reaches one option (roving tabindex); the arrows, Home and End move along.
        await page.get_by_role("button", name="New chat").focus()
        await page.keyboard.press("Tab")
        await expect(options.first).to_be_focused()
        await page.keyboard.press("End")
        await expect(options.last).to_be_focused()
        await page.keyboard.press("Home")
        await expect(options.first).to_be_focused()
        await page.keyboard.press(forward)
        await expect(options.nth(1)).to_be_focused()
        await page.keyboard.press(back)
        await expect(options.first).to_be_focused()
        titles = await options.all_inner_texts()
        at = next(i for i, t in enumerate(titles) if "progress" in t.lower())
        for _ in range(at):
            await page.keyboard.press(forward)
        await expect(options.nth(at)).to_be_focused()
        await page.keyboard.press(open_with)
        await expect(page).to_have_url(asked)
        await expect(page.get_by_role("heading", name=QUESTION)).to_be_visible()
        await expect(conversations.get_by_role("option", selected=True)).to_have_text(QUESTION)
        for label in ("Progress", "Practice"):
            assert await page.get_by_role("link", name=label).count() == 1, (size, label)
