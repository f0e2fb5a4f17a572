"""Queue a mail and deliver it from a background job.

Why a job: a slow or failing SMTP server must never slow a request, and the job facility
retries with backoff (server/jobs, docs/JOBS.md). Why sealed: job payloads live in Redis
and mails carry secrets (a reset link) and addresses; the payload is encrypted (Fernet,
from the `cryptography` package, a direct dependency) with a key derived from the JWT secret,
so Redis only ever holds ciphertext. Logs name the template and the subject, never the
recipient or the body."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from email.message import EmailMessage
from email.utils import make_msgid
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken

from server.jobs import JobContext, JobError, JobQueue
from server.mail import transport
from server.mail.templates import render

if TYPE_CHECKING:
    from server.state import AppState

log = logging.getLogger("starguide.mail")

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
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


async def send_mail(*, state: AppState, to: str, template: str, values: dict[str, str]) -> str:
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
