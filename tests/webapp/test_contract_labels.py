"""The web app as a client that knows ONLY the contract's section "Web app" drives it.

Every locator here is a name or role the contract fixes, matched the way Playwright does by
default (a case-insensitive substring, strict: two matches fail), from a fresh browser
context: no CSS classes, no URLs but `/`, no clicks the contract does not imply. A label that
becomes ambiguous or a step that needs an extra click (a conversation made by hand before the
first message) fails here.
"""

from __future__ import annotations

import asyncio
import itertools
import re

import pytest
from playwright.async_api import Locator, Page, expect

from tests.webapp.conftest import PASSWORD, new_email

pytestmark = pytest.mark.slow

QUESTION = "Explain Newton's laws of motion in detail with examples and a worked problem."


def log_out_control(page: Page) -> Locator:
    """ "Log out": a button or a link (the contract allows either)."""
    return page.get_by_role("button", name="Log out").or_(page.get_by_role("link", name="Log out"))


async def expect_start_page(page: Page) -> None:
    """The signed-out start page offers both sign-up and log-in, each field once."""
    await expect(page.get_by_role("button", name="Create account")).to_be_visible()
    await expect(page.get_by_role("button", name="Log in")).to_be_visible()
    for label in ("Name", "Email", "Password"):
        await expect(page.get_by_label(label)).to_be_visible()
    await expect(page.get_by_role("link", name="Forgot password?")).to_be_visible()


async def test_a_contract_only_client_signs_up_chats_and_finds_every_page(page: Page) -> None:
    email = new_email()
    await page.goto("/")
    await expect_start_page(page)
    await page.get_by_label("Name").fill("Contract Learner")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()

    nav = page.get_by_role("navigation")
    for label in ("Chat", "Practice", "Progress", "Library"):
        await expect(nav.get_by_role("link", name=label)).to_be_visible()
        await expect(page.get_by_role("link", name=label)).to_be_visible()  # unambiguous
    await expect(log_out_control(page)).to_be_visible()

    # Chat, straight after sign-up: the first send creates the conversation by itself.
    await page.get_by_role("link", name="Chat").click()
    await page.get_by_role("textbox", name="Message").fill(QUESTION)
    await expect(page.get_by_label("Message")).to_have_value(QUESTION)  # one labelled element
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_role("button", name="Stop")).to_be_visible()
    log = page.get_by_role("log")
    await expect(log).to_contain_text(QUESTION)
    # The reply's first words (the server's first reply after a start takes a second or two on
    # a busy machine), then it keeps growing.
    await expect(log).not_to_have_text(await log.inner_text(), timeout=30_000)
    lengths = []
    for _ in range(6):
        lengths.append(len(await log.inner_text()))
        await asyncio.sleep(0.25)
    assert sum(b > a for a, b in itertools.pairwise(lengths)) >= 3, (
        f"the reply did not grow in the log while streaming: {lengths}"
    )
    await expect(page.get_by_role("button", name="Stop")).to_be_visible()  # still streaming
    await expect(page.get_by_role("button", name="Stop")).to_be_hidden(timeout=60_000)
    assert len(await log.inner_text()) > lengths[-1]
    # With a conversation listed, "Chat" still names one link only.
    await expect(page.get_by_role("link", name="Chat")).to_have_count(1)

    await page.get_by_role("link", name="Progress").click()
    await expect(page.get_by_text(re.compile(r"Level \d+"))).to_be_visible()
    await expect(page.get_by_text("Level 1")).to_be_visible()
    main = page.get_by_role("main")
    await expect(main).to_contain_text("XP")
    await expect(main).to_contain_text(re.compile("streak", re.IGNORECASE))

    await page.get_by_role("link", name="Practice").click()
    await expect(page.get_by_role("radio").first).to_be_visible()
    assert await page.get_by_role("radio").count() >= 2
    await expect(page.get_by_role("button", name="Check")).to_be_visible()

    await page.get_by_role("link", name="Library").click()
    upload = page.get_by_label("Upload document")
    await expect(upload).to_be_attached()
    assert await upload.get_attribute("type") == "file"

    # "Log out" brings back the start page; log in there.
    await log_out_control(page).click()
    await expect_start_page(page)
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(log_out_control(page)).to_be_visible()
    await expect(page.get_by_role("navigation").get_by_role("link", name="Chat")).to_be_visible()

    # "Forgot password?" leads to a page that takes an email and answers.
    await log_out_control(page).click()
    await page.get_by_role("link", name="Forgot password?").click()
    answered = page.get_by_role("status").filter(has_text=re.compile(r"\w"))
    await expect(answered).to_have_count(0)
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Email").press("Enter")
    await expect(answered.first).to_be_visible()


async def test_the_start_page_is_the_same_form_at_every_address(page: Page) -> None:
    """`/`, `/login` and `/signup` show one form with both actions; only the first button and
    the password's autocomplete hint differ."""
    for path, first, hint in (
        ("/", "Log in", "current-password"),
        ("/login", "Log in", "current-password"),
        ("/signup", "Create account", "new-password"),
    ):
        await page.goto(path)
        await expect_start_page(page)
        buttons = page.get_by_role("main").get_by_role("button")
        await expect(buttons.first).to_have_text(first)
        await expect(page.get_by_label("Password")).to_have_attribute("autocomplete", hint)
        name = page.get_by_label("Name")
        await expect(name).to_have_accessible_description(re.compile("create an account"))
    # On the start page, typing a Name switches the password manager to a new password.
    await page.goto("/")
    await page.get_by_label("Name").fill("Asha")
    await expect(page.get_by_label("Password")).to_have_attribute("autocomplete", "new-password")
    await page.get_by_label("Name").fill("")
    await expect(page.get_by_label("Password")).to_have_attribute(
        "autocomplete", "current-password"
    )


async def test_enter_creates_an_account_with_a_name_and_logs_in_without(page: Page) -> None:
    email = new_email()
    await page.goto("/")
    # "Create account" without a name says what is missing and signs nobody up.
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("alert")).to_contain_text("Name")
    await expect(page.get_by_label("Name")).to_be_focused()
    await expect(log_out_control(page)).to_have_count(0)
    # Enter with a Name filled creates the account.
    await page.get_by_label("Name").fill("Kiran")
    await page.get_by_label("Password").press("Enter")
    await expect(log_out_control(page)).to_be_visible()
    await expect(page.get_by_text("Kiran")).to_be_visible()
    await log_out_control(page).click()
    # Enter without a Name logs in.
    await expect_start_page(page)
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("Password").press("Enter")
    await expect(log_out_control(page)).to_be_visible()
