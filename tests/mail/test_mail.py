"""The mail facility against a real SMTP server (aiosmtpd), and the development outbox."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest

from server.app import create_app
from server.mail.service import build_message, send_mail
from tests.conftest import _drop, make_settings
from tests.mail.smtp import Inbox, body_text

LINK = "http://127.0.0.1:8000/reset?token=SECRET-token-123"


@asynccontextmanager
async def running_app(mongo_url: str, data_dir: Path, **overrides: Any) -> AsyncIterator[Any]:
    settings = make_settings(mongo_url, data_dir, **overrides)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app
    await _drop(settings, mongo_url)


async def test_mail_reaches_the_smtp_server(
    mongo_url: str, tmp_path: Path, smtp_inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="starguide")
    async with running_app(
        mongo_url, tmp_path, smtp_url=smtp_inbox.url, mail_from="StarGuide <mentor@example.org>"
    ) as app:
        job_id = await send_mail(
            state=app.state.ctx,
            to="asha@example.com",
            template="password_reset",
            values={"link": LINK},
        )
        [message] = await smtp_inbox.wait_for("asha@example.com")
        assert message["Subject"] == "Reset your StarGuide password"
        assert message["From"] == "StarGuide <mentor@example.org>"
        assert LINK in body_text(message)
        html = message.get_body(preferencelist=("html",))
        assert html is not None and f'href="{LINK}"' in html.get_content()
        for _ in range(100):  # the job completes just after the server answered
            info = await app.state.ctx.jobs.get(job_id)
            if info is not None and info.status == "complete":
                break
            await asyncio.sleep(0.05)
        assert info is not None and info.status == "complete"
    assert "SECRET-token" not in caplog.text
    assert "asha@example.com" not in caplog.text
    assert not (tmp_path / "outbox").exists()


async def test_without_smtp_url_mails_go_to_the_outbox(
    mongo_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="starguide.mail")
    async with running_app(mongo_url, tmp_path) as app:
        await send_mail(
            state=app.state.ctx,
            to="ravi@example.com",
            template="password_reset",
            values={"link": LINK},
        )
        outbox = tmp_path / "outbox"
        deadline = time.monotonic() + 10
        while not list(outbox.glob("*.eml")):
            assert time.monotonic() < deadline, "no .eml in the outbox"
            await asyncio.sleep(0.05)
    [eml] = list(outbox.glob("*.eml"))
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["To"] == "ravi@example.com"
    assert LINK in body_text(message)  # type: ignore[arg-type]
    assert "Reset your StarGuide password" in caplog.text
    assert "SECRET-token" not in caplog.text
    assert "ravi@example.com" not in caplog.text


async def test_smtp_down_the_job_retries_then_fails_without_leaking(
    mongo_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.conftest import free_port

    caplog.set_level(logging.DEBUG, logger="starguide")
    async with running_app(
        mongo_url,
        tmp_path,
        smtp_url=f"smtp+starttls://user:PASS-secret@127.0.0.1:{free_port()}",
        jobs_retry_delay_seconds=0,
    ) as app:
        job_id = await send_mail(
            state=app.state.ctx,
            to="x@example.com",
            template="password_reset",
            values={"link": LINK},
        )
        for _ in range(200):
            info = await app.state.ctx.jobs.get(job_id)
            if info is not None and info.status == "failed":
                break
            await asyncio.sleep(0.05)
        assert info is not None and info.status == "failed"
        assert info.attempts > 1
        assert "PASS-secret" not in str(info.error)
    assert "PASS-secret" not in caplog.text
    assert "SECRET-token" not in caplog.text


async def test_durable_jobs_deliver_and_redis_holds_no_plaintext(
    mongo_url: str, redis_url: str, tmp_path: Path, smtp_inbox: Inbox
) -> None:
    """With REDIS_URL the payload sits in Redis (saq): sealed, so neither the address nor the
    link can be read there."""
    from redis.asyncio import Redis

    async with running_app(
        mongo_url, tmp_path, smtp_url=smtp_inbox.url, redis_url=redis_url
    ) as app:
        # Queued but not yet run, so the payload can be read back as saq stored it.
        job_id = await send_mail(
            state=app.state.ctx,
            to="meera@example.com",
            template="password_reset",
            values={"link": LINK},
        )
        redis = Redis.from_url(redis_url)
        try:
            stored = b""
            async for key in redis.scan_iter("saq:*"):
                if await redis.type(key) == b"string":
                    value = await redis.get(key)
                    stored += value if isinstance(value, bytes) else b""
        finally:
            await redis.aclose()
        assert b"sealed" in stored  # the job's record was read
        assert b"SECRET-token" not in stored and b"meera@example.com" not in stored
        [message] = await smtp_inbox.wait_for("meera@example.com")
        assert LINK in body_text(message)
        assert job_id


async def test_links_arrive_verbatim_in_the_raw_mail(
    mongo_url: str, tmp_path: Path, smtp_inbox: Inbox
) -> None:
    """A client that reads the link out of the mail as it arrived (a regex on the bytes, no
    MIME decoding) must find the token itself: no quoted-printable `=3D` or soft line breaks
    inside the link, in the plain-text and in the HTML part alike, even behind a long
    PUBLIC_URL."""
    link = "https://starguide.coaching-institute.example.com/reset?token=" + "Ab-_9" * 9
    async with running_app(mongo_url, tmp_path, smtp_url=smtp_inbox.url) as app:
        await send_mail(
            state=app.state.ctx,
            to="raw-reader@example.com",
            template="password_reset",
            values={"link": link},
        )
        await smtp_inbox.wait_for("raw-reader@example.com")
    [received] = [r for r in smtp_inbox.messages if "raw-reader@example.com" in r.recipients]
    raw = received.raw.decode("ascii")
    assert raw.count(link) == 2, raw  # the plain-text part and the HTML part
    assert "=3D" not in raw
    assert max(len(line) for line in raw.splitlines()) <= 998  # RFC 5322's line limit


def test_a_mail_carries_the_date_rfc_5322_requires() -> None:
    """`Date` is one of the two fields every message must have (RFC 5322 §3.6); spam filters
    score mails without it."""
    message = build_message(
        sender="StarGuide <a@example.org>",
        to="b@example.com",
        template="password_reset",
        values={"link": LINK},
    )
    sent = parsedate_to_datetime(str(message["Date"]))
    assert sent.tzinfo is not None
    assert abs((sent - datetime.now(UTC)).total_seconds()) < 60
