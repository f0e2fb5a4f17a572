"""The mails StarGuide sends: a subject, a plain-text body and an HTML body per template.

`string.Template` keeps this dependency-free; the HTML body gets every value HTML-escaped,
so a display name can never inject markup."""

from __future__ import annotations

import html
from dataclasses import dataclass
from string import Template


@dataclass(frozen=True)
class MailTemplate:
    subject: Template
    text: Template
    html: Template


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


_LAYOUT = Template(
    '<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">'
    '$body<p style="color:#666;font-size:small">StarGuide</p></body></html>'
)

TEMPLATES: dict[str, MailTemplate] = {
    "password_reset": MailTemplate(
        subject=Template("Reset your StarGuide password"),
        text=Template(
            "Hello,\n\nSomeone (hopefully you) asked to reset the password of your StarGuide "
            "account. Open this link within 30 minutes to choose a new one:\n\n$link\n\n"
            "The link works once. If you did not ask for it, ignore this mail: your password "
            "stays as it is.\n"
        ),
        html=Template(
            "<p>Hello,</p><p>Someone (hopefully you) asked to reset the password of your "
            "StarGuide account. Open this link within 30 minutes to choose a new one:</p>"
            '<p><a href="$link">Choose a new password</a></p>'
            "<p>The link works once. If you did not ask for it, ignore this mail: your "
            "password stays as it is.</p>"
        ),
    ),
    "claim": MailTemplate(
        subject=Template("Your StarGuide account is waiting for you"),
        text=Template(
            "Hello $name,\n\nYour learning history, progress and notes from the old StarGuide "
            "bot have been moved to StarGuide, and your mentor or your institute invited you to "
            "take over the account. Open this link within 7 days to choose your password:\n\n"
            "$link\n\nThe link works once. This address becomes the email you sign in with. "
            "If you do not know what this is about, ignore this mail.\n"
        ),
        html=Template(
            "<p>Hello $name,</p><p>Your learning history, progress and notes from the old "
            "StarGuide bot have been moved to StarGuide, and your mentor or your institute "
            "invited you to take over the account. Open this link within 7 days to choose "
            'your password:</p><p><a href="$link">Claim your account</a></p>'
            "<p>The link works once. This address becomes the email you sign in with. If you "
            "do not know what this is about, ignore this mail.</p>"
        ),
    ),
}


def render(name: str, values: dict[str, str]) -> RenderedMail:
    """Raises KeyError for an unknown template or a missing value: a bug, never user input."""
    template = TEMPLATES[name]
    escaped = {key: html.escape(value) for key, value in values.items()}
    return RenderedMail(
        subject=template.subject.substitute(values),
        text=template.text.substitute(values),
        # One paragraph a line: short lines keep the HTML part plain 7bit (`build_message`).
        html=_LAYOUT.substitute(body=template.html.substitute(escaped)).replace("</p>", "</p>\n"),
    )
