"""Queue a mail and deliver it from a background job.

Why a job: a slow or failing SMTP server must never slow a request, and the job facility
retries with backoff (server/jobs, docs/JOBS.md). Why sealed: job payloads live in Redis
and mails carry secrets (a reset link) and addresses; the payload is encrypted (Fernet,
from the `cryptography` package, a direct dependency) with a key derived from the JWT secret,
so Redis only ever holds ciphertext. Logs name the template and the subject, never the
recipient or the body."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Protocol

from cryptography.fernet import Fernet, InvalidToken

from server.config import Settings
from server.jobs import JobContext, JobError, JobQueue, build_job_queue
from server.mail import transport
from server.mail.templates import render

log = logging.getLogger("starguide.mail")


class MailContext(Protocol):
    """What sending needs: the settings and the job queue. The server's `AppState` is one;
    a script without the whole lifespan uses `standalone_mailer`."""

    @property
    def settings(self) -> Settings: ...

    @property
    def jobs(self) -> JobQueue: ...


JOB_NAME = "mail.send"
_RETRIES = 5  # with the queue's doubling backoff: about a minute of SMTP trouble is ridden out


def _fernet(jwt_secret: str) -> Fernet:
    digest = hashlib.sha256(b"starguide-mail-payload:" + jwt_secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def build_message(*, sender: str, to: str, template: str, values: dict[str, str]) -> EmailMessage:
    rendered = render(template, values)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = rendered.subject
    message["Message-ID"] = make_msgid(domain="starguide")
    message["Date"] = formatdate(usegmt=True)  # required by RFC 5322 §3.6
    message.set_content(rendered.text, cte=_transfer_encoding(rendered.text))
    message.add_alternative(rendered.html, subtype="html", cte=_transfer_encoding(rendered.html))
    return message


def _transfer_encoding(body: str) -> str | None:
    """7bit whenever the body allows it (ASCII, lines within RFC 5322's 998 characters): the
    links then arrive byte for byte as written, for mail clients and for scripts that read
    them without MIME decoding. Python's default would pick quoted-printable for any line
    over 78 characters, turning `?token=` into `?token=3D` and breaking long links with soft
    line breaks. Otherwise (a non-ASCII name) the default choice."""
    if body.isascii() and all(len(line) <= 998 for line in body.splitlines()):
        return "7bit"
    return None


async def send_mail(*, state: MailContext, to: str, template: str, values: dict[str, str]) -> str:
    """Renders now (a bad template fails the caller, not a job) and queues the delivery.
    Returns the job id."""
    message = build_message(
        sender=state.settings.mail_from, to=to, template=template, values=values
    )
    sealed = _fernet(state.settings.resolved_jwt_secret()).encrypt(
        json.dumps({"to": to, "message": message.as_string()}).encode()
    )
    return await state.jobs.enqueue(
        JOB_NAME, {"template": template, "sealed": sealed.decode()}, retries=_RETRIES, timeout_s=60
    )


async def _handle(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    settings = ctx.state.settings
    try:
        opened = json.loads(_fernet(settings.resolved_jwt_secret()).decrypt(payload["sealed"]))
    except InvalidToken as exc:  # the JWT secret changed since it was queued
        raise JobError("the mail cannot be opened", retry=False) from exc
    message = transport.parse(opened["message"])
    smtp_url = settings.smtp_url.get_secret_value() if settings.smtp_url else None
    if smtp_url is None:
        path = transport.write_outbox(settings.data_dir / "outbox", message)
        log.info(
            "mail %s written to the outbox: %s (%s)",
            payload["template"],
            message["Subject"],
            path.name,
        )
        return {"delivered": "outbox"}
    await transport.deliver(smtp_url, message, recipient=opened["to"])
    log.info("mail %s sent: %s", payload["template"], message["Subject"])
    return {"delivered": "smtp"}


def register_jobs(queue: JobQueue) -> None:
    queue.register(JOB_NAME, _handle)


def warn_if_outbox_in_production(settings: Settings) -> None:
    """At start-up: in production without SMTP_URL nobody receives a mail (reset and claim
    links land in DATA_DIR/outbox), which is a misconfiguration, not a reason to refuse to
    start."""
    if settings.is_production and settings.smtp_url is None:
        log.warning(
            "SMTP_URL is not set in production: mails (password reset, account claim) are "
            "only written to %s and nobody receives them; set SMTP_URL (README, Mail (SMTP))",
            settings.data_dir / "outbox",
        )


@dataclass
class StandaloneMailer:
    """A `MailContext` for scripts: mail jobs only, remembered so they can be waited for."""

    settings: Settings
    jobs: JobQueue
    job_ids: list[str] = field(default_factory=list)
    durable: bool = False

    def track(self, job_id: str) -> None:
        """A job `wait_sent` waits for (the id `send_mail` returned)."""
        self.job_ids.append(job_id)

    async def wait_sent(self, timeout_s: float) -> int:
        """Waits until this process's mail jobs have finished; returns how many failed or did
        not finish. Durable jobs are not waited for: they stay in Redis until a server or a
        worker delivers them."""
        if self.durable:
            return 0
        deadline = time.monotonic() + timeout_s
        pending = list(self.job_ids)
        failed = 0
        while pending:
            info = await self.jobs.get(pending[0])
            if info is not None and info.status in ("queued", "running"):
                if time.monotonic() > deadline:
                    return failed + len(pending)
                await asyncio.sleep(0.05)
                continue
            failed += 0 if info is not None and info.status == "complete" else 1
            pending.pop(0)
        return failed


@asynccontextmanager
async def standalone_mailer(settings: Settings) -> AsyncIterator[StandaloneMailer]:
    """Mail from a process that is not a server (`import_profiles --invite`). With REDIS_URL
    the jobs are queued durably and the servers' workers deliver them (this process runs no
    worker: it could not run the other features' jobs); without it they run here, so call
    `wait_sent` before leaving."""
    durable = bool(settings.redis_url)
    queue = build_job_queue(settings, run_workers=not durable)
    register_jobs(queue)
    mailer = StandaloneMailer(settings=settings, jobs=queue, durable=durable)
    await queue.start(mailer)  # handlers read `ctx.state.settings`
    try:
        yield mailer
    finally:
        await queue.aclose()
