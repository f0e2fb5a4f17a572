"""Where a built message goes: an SMTP server per `SMTP_URL`, or the development outbox."""

from __future__ import annotations

import os
from email import policy
from email.message import EmailMessage
from email.parser import Parser
from pathlib import Path
from typing import cast
from urllib.parse import unquote, urlsplit

import aiosmtplib

_DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


def parse(text: str) -> EmailMessage:
    return cast(EmailMessage, Parser(policy=policy.default).parsestr(text))


def write_outbox(folder: Path, message: EmailMessage) -> Path:
    """One `.eml` per mail, named by its Message-ID: a retried job rewrites the same file."""
    folder.mkdir(parents=True, exist_ok=True)
    name = "".join(c for c in str(message["Message-ID"]) if c.isalnum() or c in "._-") or "mail"
    path = folder / f"{name}.eml"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(message.as_bytes())
    os.replace(tmp, path)  # readers never see half a file
    return path


async def deliver(smtp_url: str, message: EmailMessage, *, recipient: str) -> None:
    """smtp:// plain, smtp+starttls:// upgrades (and refuses a server that cannot),
    smtps:// TLS from the first byte. Errors carry no credentials: aiosmtplib's exceptions
    hold the server's reply, and the job shows only their class."""
    url = urlsplit(smtp_url)
    scheme = url.scheme
    await aiosmtplib.send(
        message,
        recipients=[recipient],
        hostname=url.hostname or "localhost",
        port=url.port or _DEFAULT_PORTS[scheme],
        username=unquote(url.username) if url.username else None,
        password=unquote(url.password) if url.password else None,
        use_tls=scheme == "smtps",
        start_tls=True if scheme == "smtp+starttls" else False,
        timeout=30,
    )
