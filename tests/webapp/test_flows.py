"""The learner's web app in real Chromium: sign-up, streaming chat, Stop, reload, practice,
library upload, log out and in, password reset (contract: Web app)."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.webapp.conftest import (
    PASSWORD,
    ROOT,
    Watched,
    WebServer,
    expect_nav_labels_name_one_link_each,
    new_email,
    sign_up,
    stored_refresh_token,
)

pytestmark = pytest.mark.slow

LONG_QUESTION = "Explain Newton's laws of motion in detail with examples and a worked problem."


async def reply_lengths(page: Page, samples: int, every_s: float) -> list[int]:
    reply = page.get_by_role("log").locator("article.assistant").last
    lengths = []
    for _ in range(samples):
        lengths.append(len(await reply.locator(".text").inner_text()))
        await asyncio.sleep(every_s)
    return lengths


async def test_sign_up_opens_the_chat_and_navigation(page: Page) -> None:
    await page.goto("/")
    # The start page stays at `/` and offers both actions (contract: Web app).
    await expect(page).to_have_url(re.compile(r"^https?://[^/]+/$"))
    await expect(page.get_by_role("button", name="Log in")).to_be_visible()
    await expect(page.get_by_role("link", name="Forgot password?")).to_be_visible()
    await sign_up(page, name="Meera")
    await expect(page).to_have_url(re.compile(r"/chat$"))
    nav = page.get_by_role("navigation", name="Main")
    for label in ("Chat", "Practice", "Progress", "Library"):
        await expect(nav.get_by_role("link", name=label, exact=True)).to_be_visible()
    await expect(page.get_by_text("Meera")).to_be_visible()


async def test_a_streamed_reply_grows_on_screen_and_is_kept(page: Page) -> None:
    await sign_up(page)
    await page.get_by_role("textbox", name="Message").fill(LONG_QUESTION)
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_role("button", name="Stop")).to_be_visible()
    log = page.get_by_role("log")
    await expect(log.locator("article.user")).to_have_text(LONG_QUESTION)
    await expect(log.locator("article.assistant .text")).not_to_be_empty()
    lengths = await reply_lengths(page, samples=6, every_s=0.25)
    growth = [b > a for a, b in itertools.pairwise(lengths)]
    assert sum(growth) >= 3, f"the reply did not grow while streaming: {lengths}"
    await expect(page.get_by_role("button", name="Send")).to_be_visible(timeout=60_000)
    await expect(page.get_by_role("button", name="Stop")).to_be_hidden()
    final = await log.locator("article.assistant .text").inner_text()
    assert len(final) > lengths[-1]
    # On a phone the reply is taller than the screen; scrolled back up to its start, the
    # message box stays in view at the bottom.
    await page.evaluate("window.scrollTo(0, 0)")
    assert await page.evaluate("document.documentElement.scrollHeight > innerHeight + 100")
    await expect(page.get_by_role("textbox", name="Message")).to_be_in_viewport()
    await expect(log.get_by_role("button", name="Regenerate")).to_be_visible()
    # The conversation got its title from the first message and is listed.
    await expect(page).to_have_url(re.compile(r"/chat/[0-9a-f]{24}$"))
    # Listed on the phone's screen as it is (a strip above the thread, nothing to open).
    listed = page.get_by_role("listbox", name="Conversations").get_by_role("option")
    await expect(listed).to_have_count(1)
    await expect(listed).to_be_visible()
    assert await page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    # After a reload, the stored exchange is shown again.
    await page.reload()
    await expect(page.get_by_role("log").locator("article.assistant .text")).to_have_text(final)


async def test_stop_ends_the_reply_where_it_is(page: Page, server: WebServer) -> None:
    await sign_up(page)
    await page.get_by_role("textbox", name="Message").fill(LONG_QUESTION)
    await page.get_by_role("button", name="Send").click()
    text = page.get_by_role("log").locator("article.assistant .text")
    await expect(text).to_have_text(re.compile(r"\w+ \w+ \w+"))
    await page.get_by_role("button", name="Stop").click()
    await expect(page.get_by_role("button", name="Send")).to_be_visible()
    await expect(page.get_by_role("log").locator("article.assistant .meta")).to_contain_text(
        "Stopped."
    )
    stopped = await text.inner_text()
    await asyncio.sleep(0.5)
    assert await text.inner_text() == stopped
    # The server agrees: the reply is stored as aborted with the text shown.
    token = await stored_refresh_token(page)
    async with server.rest() as client:
        pair = (await client.post("/auth/refresh", json={"refresh_token": token})).json()
        headers = {"Authorization": f"Bearer {pair['access_token']}"}
        conversation_id = page.url.rsplit("/", 1)[1]
        items = (
            await client.get(f"/conversations/{conversation_id}/messages", headers=headers)
        ).json()["items"]
    reply = next(m for m in items if m["role"] == "assistant")
    assert reply["status"] == "aborted"
    assert reply["content"].strip() == stopped.strip()


async def test_reload_keeps_the_session_and_rotates_the_refresh_token(page: Page) -> None:
    await sign_up(page)
    first = await stored_refresh_token(page)
    assert first
    await page.goto("/progress")
    await expect(page.get_by_role("heading", name=re.compile(r"^Level \d+$"))).to_be_visible()
    await page.reload()
    await expect(page).to_have_url(re.compile(r"/progress$"))
    await expect(page.get_by_role("button", name="Log out")).to_be_visible()
    await expect(page.get_by_role("heading", name=re.compile(r"^Level \d+$"))).to_be_visible()
    second = await stored_refresh_token(page)
    assert second and second != first
    # Several reloads in a row never present a spent token (that would end the session).
    for _ in range(2):
        await page.reload()
        await expect(page.get_by_role("button", name="Log out")).to_be_visible()


async def test_a_quiz_question_is_checked_with_its_explanation(page: Page) -> None:
    await sign_up(page)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Practice").click()
    question = page.get_by_role("group").first
    await expect(question.get_by_role("radio")).to_have_count(4)
    await question.get_by_role("radio").first.check()
    await page.get_by_role("button", name="Check").click()
    feedback = page.get_by_role("status").filter(has_text="Explanation")
    await expect(feedback).to_contain_text(re.compile(r"Correct!|Not quite"))
    await expect(question.locator(".option.correct")).to_have_count(1)
    await expect(question.get_by_role("radio").first).to_be_disabled()
    await page.get_by_role("button", name="Next question").click()
    await expect(page.get_by_role("button", name="Check")).to_be_enabled()


async def test_an_upload_shows_progress_and_reaches_ready(page: Page, tmp_path: Path) -> None:
    notes = tmp_path / "photosynthesis-notes.md"
    notes.write_text(
        "# Photosynthesis\n\n"
        + "Chlorophyll in the thylakoid membranes absorbs red and blue light. " * 20
        + "\n\n## Calvin cycle\n\nRuBisCO fixes carbon dioxide in the stroma.\n"
    )
    await sign_up(page)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Library").click()
    await page.get_by_label("Upload document").set_input_files(notes)
    await expect(page.get_by_role("status").filter(has_text="uploaded")).to_be_visible()
    item = (
        page.get_by_role("list", name="Your documents")
        .get_by_role("listitem")
        .filter(has_text="photosynthesis-notes")
    )
    await expect(item.locator(".status")).to_have_text("Ready", timeout=60_000)
    # Search finds it; its page opens from the result.
    await page.get_by_label("Search your library").fill("thylakoid chlorophyll")
    await page.get_by_role("button", name="Search").click()
    result = page.get_by_role("link", name=re.compile(r"photosynthesis-notes, page \d+"))
    await expect(result.first).to_be_visible()
    await result.first.click()
    await expect(page.get_by_role("heading", name="photosynthesis-notes")).to_be_visible()
    await page.get_by_role("link", name="Back to your documents").click()
    await item.get_by_role("button", name="Delete photosynthesis-notes").click()
    await item.get_by_role("button", name="Yes, delete photosynthesis-notes").click()
    await expect(item).to_have_count(0)


async def test_log_out_and_log_in_again(page: Page, watched: Watched) -> None:
    watched.expected_failures.add("/api/v1/auth/login")  # the wrong password below
    email = await sign_up(page)
    await page.get_by_role("button", name="Log out").click()
    await expect(page).to_have_url(re.compile(r"^https?://[^/]+/$"))  # the start page
    await expect(page.get_by_role("status").filter(has_text="logged out")).to_be_visible()
    await expect(page.get_by_role("button", name="Create account")).to_be_visible()
    assert await stored_refresh_token(page) is None
    await page.goto("/chat")
    await expect(page).to_have_url(re.compile(r"/login$"))
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).not_to_be_empty()
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile(r"/chat$"))
    await expect(page.get_by_role("button", name="Log out")).to_be_visible()


async def test_forgot_password_mail_link_resets_the_password(page: Page, server: WebServer) -> None:
    email = await sign_up(page)
    await page.get_by_role("button", name="Log out").click()
    await page.get_by_role("link", name="Forgot password?").click()
    await page.get_by_label("Email").fill(email)
    await page.get_by_role("button", name="Send reset link").click()
    await expect(page.get_by_role("status").filter(has_text="reset link")).to_be_visible()
    link = await _mail_link(server, email, "/reset")
    await page.goto(link)
    # The token is read once and removed from the address bar and history.
    await expect(page).to_have_url(re.compile(r"/reset$"))
    await page.get_by_label("New password").fill("a brand new passphrase")
    await page.get_by_role("button", name="Set new password").click()
    await expect(page).to_have_url(re.compile(r"/chat$"))
    async with server.rest() as client:
        old = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
        new = await client.post(
            "/auth/login", json={"email": email, "password": "a brand new passphrase"}
        )
    assert old.status_code == 401
    assert new.status_code == 200


async def test_a_mock_test_has_a_timer_and_a_result_by_topic(page: Page) -> None:
    await sign_up(page)
    await page.goto("/practice")
    await page.get_by_label("Exam").select_option("JEE")
    await page.get_by_label("Questions").fill("3")
    await page.get_by_label("Minutes").fill("5")
    await page.get_by_role("button", name="Start mock test").click()
    await expect(page).to_have_url(re.compile(r"/practice/tests/[0-9a-f]{24}$"))
    timer = page.get_by_role("timer")
    await expect(timer).to_have_text(re.compile(r"^Time left: [45]:\d\d$"))
    shown = await timer.inner_text()
    await expect(timer).not_to_have_text(shown)  # it counts down
    questions = page.get_by_role("group")
    await expect(questions).to_have_count(3)
    # The timer stays in view while the learner scrolls down through the questions.
    await page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    assert await page.evaluate("window.scrollY") > 0
    await expect(timer).to_be_in_viewport()
    await questions.nth(0).get_by_role("radio").nth(1).check()
    await questions.nth(1).get_by_role("radio").nth(2).check()
    # The answers are saved as they are chosen: a reload shows them again.
    await page.wait_for_load_state("networkidle")
    await page.reload()
    await expect(page.get_by_role("group").nth(0).get_by_role("radio").nth(1)).to_be_checked()
    await page.get_by_role("button", name="Submit test").first.click()
    await expect(page.get_by_role("heading", name="Test result")).to_be_visible()
    await expect(page.get_by_text("Correct · wrong · unanswered")).to_be_visible()
    await expect(page.get_by_role("heading", name="By topic")).to_be_visible()
    rows = page.get_by_role("table").last.get_by_role("row")
    assert await rows.count() >= 2  # a header and at least one topic
    await expect(page.get_by_role("main").get_by_role("listitem")).to_have_count(3)
    await expect(page.get_by_text("Not answered. Answer:")).to_have_count(1)
    await expect_nav_labels_name_one_link_each(page)


async def test_a_cited_reply_links_to_the_document_page(page: Page, tmp_path: Path) -> None:
    notes = tmp_path / "osmosis-notes.md"
    notes.write_text(
        "# Osmosis\n\n"
        + "Osmosis is the movement of water across a semipermeable membrane from a region of "
        "low solute concentration to high solute concentration. "
        * 6
        + "\n\nTurgor pressure keeps plant cells firm.\n"
    )
    await sign_up(page)
    await page.goto("/library")
    await page.get_by_label("Upload document").set_input_files(notes)
    item = page.get_by_role("list", name="Your documents").get_by_role("listitem")
    await expect(item.locator(".status")).to_have_text("Ready", timeout=60_000)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Chat").click()
    await page.get_by_role("textbox", name="Message").fill(
        "Explain osmosis across a semipermeable membrane from my notes"
    )
    await page.get_by_role("button", name="Send").click()
    source = page.get_by_role("list", name="Sources").get_by_role(
        "link", name=re.compile(r"^osmosis-notes, page \d+$")
    )
    await expect(source.first).to_be_visible(timeout=60_000)
    await source.first.click()
    await expect(page).to_have_url(re.compile(r"/library/[0-9a-f]{24}\?page=\d+$"))
    await expect(page.get_by_role("heading", name="osmosis-notes")).to_be_visible()
    await expect(page.get_by_text(re.compile(r"Cited passage: page \d+"))).to_be_visible()
    await expect_nav_labels_name_one_link_each(page)


async def test_conversations_are_renamed_pinned_archived_regenerated_and_deleted(
    page: Page,
) -> None:
    await sign_up(page)
    await page.get_by_role("textbox", name="Message").fill("hi")
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_role("button", name="Regenerate")).to_be_visible(timeout=60_000)
    first = await page.get_by_role("log").locator("article.assistant .text").inner_text()
    # Regenerate streams a new reply in place of the old one.
    await page.get_by_role("button", name="Regenerate").click()
    await expect(page.get_by_role("button", name="Regenerate")).to_be_visible(timeout=60_000)
    await expect(page.get_by_role("log").locator("article.assistant")).to_have_count(1)
    assert await page.get_by_role("log").locator("article.assistant .text").inner_text()
    await page.get_by_role("button", name="Rename").click()
    await page.get_by_label("Title").fill("Physics doubts")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("heading", name="Physics doubts")).to_be_visible()
    await page.get_by_role("button", name="Pin", exact=True).click()
    await expect(page.get_by_role("button", name="Unpin")).to_be_visible()
    conversations = page.get_by_role("listbox", name="Conversations")
    await expect(conversations.get_by_role("option", name="Pinned: Physics doubts")).to_be_visible()
    await page.get_by_role("button", name="Archive", exact=True).click()
    await expect(page.get_by_role("button", name="Unarchive")).to_be_visible()
    await expect(conversations.get_by_role("option")).to_have_count(0)
    await page.get_by_role("button", name="Show archived").click()
    await expect(conversations.get_by_role("option", name="Pinned: Physics doubts")).to_be_visible()
    await page.get_by_role("button", name="Delete", exact=True).click()
    await page.get_by_role("button", name="Yes, delete").click()
    await expect(page.get_by_role("heading", name="New chat")).to_be_visible()
    await expect(page).to_have_url(re.compile(r"/chat$"))
    await expect(conversations.get_by_role("option")).to_have_count(0)
    assert first  # the first reply was shown before it was replaced


async def test_a_mentor_sees_the_group_members_and_sets_an_assignment(
    page: Page, server: WebServer
) -> None:
    mentor_email = await sign_up(page, name="Mentor Rao")
    await _promote_to_mentor(server, mentor_email)
    await page.reload()  # the refresh picks up the new role
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Groups").click()
    await page.get_by_label("Group name").fill("Physics batch")
    await page.get_by_role("button", name="Create group").click()
    await expect(page.get_by_role("heading", name="Physics batch")).to_be_visible()
    await expect(page.get_by_role("link", name="Open the group's conversation")).to_be_visible()
    await expect_nav_labels_name_one_link_each(page)
    code = (await page.get_by_text("Invite code:").locator("strong").inner_text()).strip()
    members = page.get_by_role("table")
    await expect(members.get_by_role("row", name=re.compile("Mentor Rao"))).to_be_visible()
    await page.get_by_label("Assignment title").fill("Kinematics test")
    await page.get_by_label("Kind").select_option("test")
    await page.get_by_label("Due").fill(
        (datetime.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    )
    await page.get_by_role("button", name="Assign").click()
    await expect(page.get_by_role("status").filter(has_text="Assigned")).to_be_visible()
    await page.get_by_role("button", name="Completion of Kinematics test").click()
    await expect(page.get_by_text(re.compile(r"Mentor Rao: \w+"))).to_be_visible()
    # A learner joins with the code and finds the assignment on the Practice page.
    await page.get_by_role("button", name="Log out").click()
    await sign_up(page, name="Ravi")
    await page.goto("/groups")
    await expect(page.get_by_label("Invite code")).to_be_visible()
    await expect_nav_labels_name_one_link_each(page)
    await page.get_by_label("Invite code").fill(code)
    await page.get_by_role("button", name="Join").click()
    await expect(page.get_by_role("heading", name="Physics batch")).to_be_visible()
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Practice").click()
    await page.get_by_role("button", name="Start Kinematics test").click()
    await expect(page.get_by_role("timer")).to_be_visible()


async def _admin_headers(server: WebServer) -> dict[str, str]:
    """A deployment admin's bearer header (scripts.create_admin, as an operator would)."""
    admin, password = "admin@webapp.example", "admin passphrase 123"
    created = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "scripts.create_admin", "--email", admin, "--password", password],
        env=server.env,
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    async with server.rest() as client:
        login = await client.post("/auth/login", json={"email": admin, "password": password})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def _promote_to_mentor(server: WebServer, email: str) -> None:
    """Through the admin API, as a deployment would (the account cache sees the change)."""
    headers = await _admin_headers(server)
    async with server.rest() as client:
        found = await client.get("/admin/users", params={"q": email}, headers=headers)
        (user,) = [u for u in found.json()["items"] if u["email"] == email]
        promoted = await client.patch(
            f"/admin/users/{user['id']}", json={"role": "mentor"}, headers=headers
        )
        assert promoted.status_code == 200, promoted.text


async def _mail_link(server: WebServer, email: str, path: str) -> str:
    """The `{PUBLIC_URL}{path}?token=...` link of the newest mail to `email` in the outbox."""
    outbox = server.data_dir / "outbox"
    for _ in range(100):
        mails = sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True)
        for mail_path in mails if outbox.exists() else []:
            mail = message_from_bytes(mail_path.read_bytes(), policy=policy.default)
            if mail["To"] == email:
                assert isinstance(mail, EmailMessage)
                part = mail.get_body(preferencelist=("plain",))
                assert part is not None
                found = re.search(rf"https?://\S+{path}\?token=[\w.-]+", part.get_content())
                assert found, part.get_content()
                return found.group(0)
        await asyncio.sleep(0.1)
    raise AssertionError(f"no mail to {email} in the outbox")


async def test_an_imported_learner_claims_the_account_from_the_mail_link(
    page: Page, server: WebServer, tmp_path: Path
) -> None:
    legacy_id = f"user_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{legacy_id}.json").write_text(
        json.dumps(
            {
                "name": "Ravi",
                "exam": "JEE",
                "weak_topics": ["Physics"],
                "history": [{"role": "user", "content": "How do I balance redox equations?"}],
            }
        )
    )
    imported = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "scripts.import_profiles", str(tmp_path)],
        env=server.env,
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    assert imported.returncode == 0, imported.stderr
    headers = await _admin_headers(server)
    email = f"{legacy_id}@example.com"
    async with server.rest() as client:
        found = await client.get("/admin/users", params={"q": legacy_id}, headers=headers)
        (user,) = found.json()["items"]
        invite = await client.post(
            f"/admin/users/{user['id']}/claim-invite", json={"email": email}, headers=headers
        )
        assert invite.status_code == 201, invite.text
    await page.goto(await _mail_link(server, email, "/claim"))
    await expect(page).to_have_url(re.compile(r"/claim$"))  # the token left the address bar
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Claim account").click()
    await expect(page.get_by_role("button", name="Log out")).to_be_visible()
    # The history came along: the imported conversation is listed.
    listed = page.get_by_role("listbox", name="Conversations").get_by_role("option")
    await expect(listed).to_have_count(1)
    await expect(listed).to_be_visible()


async def test_single_sign_on_through_the_provider_button(page: Page, server: WebServer) -> None:
    account = f"sso-{uuid.uuid4().hex[:8]}"
    await server.op.set_account(
        account, {"email": f"{account}@school.example", "email_verified": True, "name": "Kavya"}
    )
    await page.goto("/login")
    await page.get_by_role("link", name="Sign in with School").click()
    # The provider's own login and consent pages.
    await page.locator('input[name="login"]').fill(account)
    await page.locator('input[name="password"]').fill("any")
    await page.locator('button[type="submit"]').click()
    await expect(page.locator('input[name="login"]')).to_have_count(0)  # now the consent page
    await page.locator('button[type="submit"]').click()
    await expect(page.get_by_role("button", name="Log out")).to_be_visible()
    # The one-time login code was taken out of the address bar.
    await expect(page).to_have_url(re.compile(r"/chat$"))
    assert "login_code" not in page.url
    assert await stored_refresh_token(page)


async def test_tabs_reloading_together_never_spend_a_token_twice(
    page: Page, watched: Watched
) -> None:
    await sign_up(page)
    tabs = [page, await watched.context.new_page(), await watched.context.new_page()]
    for tab in tabs[1:]:
        tab.on("console", watched.on_console)
        await tab.goto("/progress")
        await expect(tab.get_by_role("button", name="Log out")).to_be_visible()
    # Every tab refreshes at once on reload; the Web Lock makes them take turns, each with the
    # newest stored token. A spent token presented twice would end the session for all.
    for _ in range(2):
        # Reloaded together once each tab is settled: a reload that tears a tab down while its
        # own refresh is on the wire loses the rotated token with the page (the server spent
        # the old one), which no client can prevent (docs/WEBAPP.md).
        await asyncio.gather(*(tab.wait_for_load_state("networkidle") for tab in tabs))
        await asyncio.gather(*(tab.reload() for tab in tabs))
        for tab in tabs:
            await expect(tab.get_by_role("button", name="Log out")).to_be_visible()
    await page.goto("/library")
    await expect(page.get_by_text("No documents yet.")).to_be_visible()
    # Logging out in one tab logs out the others.
    await page.get_by_role("button", name="Log out").click()
    for tab in tabs[1:]:
        await expect(tab).to_have_url(re.compile(r"^https?://[^/]+/$"))
        await expect(tab.get_by_role("button", name="Log in")).to_be_visible()


async def test_the_keyboard_alone_signs_up_and_sends_with_a_visible_focus(page: Page) -> None:
    await page.goto("/signup")
    await expect(page.get_by_role("button", name="Create account")).to_be_visible()
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    # The start form's order: Email, Password, then the Name only a new account needs.
    fields = [("Email", new_email()), ("Password", PASSWORD), ("Name", "Nisha")]
    await page.get_by_label("Email").focus()
    for label, value in fields:
        await expect(page.get_by_label(label)).to_be_focused()
        await page.keyboard.type(value)
        await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")  # past the optional exam
    button = page.get_by_role("button", name="Create account")
    await expect(button).to_be_focused()
    outline = await button.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline != "none"  # the focus is visible
    await page.keyboard.press("Enter")
    message = page.get_by_role("textbox", name="Message")
    await expect(message).to_be_focused()
    await page.keyboard.type("hi")
    await page.keyboard.press("Enter")  # Enter sends, Shift+Enter breaks the line
    await expect(page.get_by_role("log").locator("article.user")).to_have_text("hi")
    await expect(page.get_by_role("button", name="Regenerate")).to_be_visible(timeout=60_000)


async def test_weak_topics_from_the_chat_show_on_the_chat_and_progress_pages(page: Page) -> None:
    await sign_up(page)
    await page.get_by_role("textbox", name="Message").fill(
        "I don't understand kinematics: velocity and acceleration confuse me"
    )
    await page.get_by_role("button", name="Send").click()
    # The reply is complete (not just "Send" still shown: under load the click's request can
    # still be on its way, and leaving the page then cancels it).
    await expect(page.get_by_role("button", name="Regenerate")).to_be_visible(timeout=60_000)
    # The mentor's memory notes the confusion about the topic the message names (by phrase, not
    # by meaning, which may still be loading); both pages then name the topic.
    weak = page.get_by_role("region", name="Weak topics").get_by_role("link", name="Kinematics")
    for _ in range(20):
        await page.goto("/progress")
        await expect(page.get_by_role("heading", name="Weak topics")).to_be_visible()
        if await weak.count():
            break
        await asyncio.sleep(0.5)
    await expect(weak).to_be_visible()
    await weak.click()
    await expect(page).to_have_url(re.compile(r"/practice\?topic="))
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Chat").click()
    await expect(page.get_by_text(re.compile(r"^Weak topics: .*Kinematics"))).to_be_visible()
