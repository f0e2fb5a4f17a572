"""Imports the old file-based bot's learner profiles (`DIR/*.json`) as StarGuide users.

Each valid file becomes one learner: `legacy_id` is the file's `user_id`, or its file name
when it has none (the old bot's `profiles/<user_id>.json`; the stable key a rerun finds the
user by), no password (the learner claims the account later), the profile,
the declared weak topics as learner memory, and the chat history as one conversation. Invalid
files are named in the summary and skipped. With `--invite`, a profile's `email` gets a claim
invitation (the same service as `POST /admin/users/{id}/claim-invite`). See docs/SCRIPTS.md
for the format and the rules.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Final, Literal

from beanie import PydanticObjectId
from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from pymongo.errors import PyMongoError

from models import Organization, Profile, TopicRef, User
from scripts._runtime import (
    Outcome,
    Parser,
    ScriptError,
    Summary,
    database,
    progress_bar,
    run_main,
    stable_object_id,
)
from server.audit import service as audit_service
from server.auth import claim
from server.config import Settings
from server.conversations.history import Turn, plan_history, write_history
from server.errors import AppError, Conflict
from server.mail.service import StandaloneMailer, standalone_mailer
from server.memory import service as memory
from server.memory.taxonomy import Taxonomy, load_taxonomy
from server.orgs import service as orgs_service
from server.users import service as users_service

MAX_FILE_BYTES: Final = 16 * 1024 * 1024
MAX_TURNS: Final = 20_000
MAX_CONTENT: Final = 8_000  # the longest message the chat accepts
EMAIL_DOMAIN: Final = "legacy.starguide.invalid"
CONVERSATION_TITLE: Final = "Imported history"
MESSAGE_PREFIX: Final = "legacy"
MAIL_WAIT_SECONDS: Final = 300.0  # without Redis the mails go out from this process
# A whole subject declared weak ("Physics") marks each of its topics at this fraction of a
# named topic's evidence: the named topics rank first, the subject's are still listed.
SUBJECT_FACTOR: Final = memory.SECONDARY_FACTOR

Line = Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1)]


class LegacyTurn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["user", "assistant"]
    content: Annotated[Line, StringConstraints(max_length=MAX_CONTENT)]
    timestamp: datetime | None = None

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        """Naive times are taken as UTC; stored at MongoDB's millisecond precision."""
        if value is None:
            return None
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(microsecond=value.microsecond // 1000 * 1000)


class LegacyProfile(BaseModel):
    """One legacy file. Unknown fields are ignored: old bots wrote extra bookkeeping."""

    model_config = ConfigDict(extra="ignore")

    user_id: Annotated[Line, StringConstraints(max_length=128)]
    name: Annotated[Line, StringConstraints(max_length=80)] | None = None
    exam: Annotated[Line, StringConstraints(max_length=80)] | None = None
    coaching: Annotated[Line, StringConstraints(max_length=80)] | None = None
    # Checked only by --invite: a bad address skips the invitation, not the learner's data.
    email: Annotated[Line, StringConstraints(max_length=254)] | None = None
    weak_topics: Annotated[
        list[Annotated[Line, StringConstraints(max_length=120)]], Field(max_length=200)
    ] = Field(default_factory=list)
    history: Annotated[list[LegacyTurn], Field(max_length=MAX_TURNS)] = Field(default_factory=list)


_EMAIL: Final = TypeAdapter(EmailStr)


class InvalidFile(Exception):
    """The file cannot be imported; the message is the reason shown in the summary."""


def placeholder_email(legacy_id: str) -> str:
    """An address nobody can sign up with (sign-up rejects the reserved `.invalid` domain), so
    it never collides with a real account; the hash keeps ids differing only in case or
    punctuation apart."""
    slug = re.sub(r"[^a-z0-9]+", "-", legacy_id.lower()).strip("-")[:40] or "user"
    digest = hashlib.sha256(legacy_id.encode()).hexdigest()[:10]
    return f"legacy-{slug}-{digest}@{EMAIL_DOMAIN}"


def conversation_id_for(legacy_id: str) -> PydanticObjectId:
    return stable_object_id("legacy-history", legacy_id)


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error["loc"]) or "file"
        parts.append(f"{where}: {error['msg']}")
    more = len(exc.errors()) - 3
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _read_capped(path: Path) -> bytes:
    with path.open("rb") as handle:
        raw = handle.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise InvalidFile(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    return raw


def json_files(directory: Path) -> list[Path]:
    """The directory's `*.json` files in name order (paths only: contents are read one by
    one, so memory stays bounded however many there are)."""
    return sorted(p for p in directory.glob("*.json") if p.is_file())


def legacy_user_id(value: object, path: Path) -> object:
    """The old bot saved each learner as `profiles/<user_id>.json` and often left `user_id`
    out of the file: absent (or null), it is the file's name without `.json`. A numeric id
    (chat platforms' user ids) is the same id as its decimal text. Anything else is left for
    validation to refuse."""
    if value is None:
        return path.stem
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


async def read_profile(path: Path) -> LegacyProfile:
    """Reads and validates one file, or raises `InvalidFile` with the reason."""
    try:
        raw = await asyncio.to_thread(_read_capped, path)
    except OSError as exc:
        raise InvalidFile(f"unreadable: {exc.strerror or exc}") from exc
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidFile("not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise InvalidFile(f"not valid JSON ({exc.msg}, line {exc.lineno})") from exc
    if not isinstance(data, dict):
        raise InvalidFile(f"expected a JSON object, found {type(data).__name__}")
    data["user_id"] = legacy_user_id(data.get("user_id"), path)
    try:
        return LegacyProfile.model_validate(data)
    except ValidationError as exc:
        raise InvalidFile(_describe(exc)) from exc


@dataclass(slots=True)
class WeakTopics:
    """A file's weak topics resolved against the taxonomy."""

    evidence: list[memory.Evidence] = field(default_factory=list)
    already: int = 0  # (user, topic) pairs that have declared evidence from an earlier run
    unmatched: list[str] = field(default_factory=list)


def map_weak_topics(entries: Sequence[str], taxonomy: Taxonomy, declared: set[str]) -> WeakTopics:
    """Named topics first (full `declared` evidence), then whole subjects (each topic at
    `SUBJECT_FACTOR`); a topic already declared, by an earlier run or an earlier entry, is
    not declared again, so a rerun changes nothing."""
    result = WeakTopics()
    seen: set[str] = set()
    subjects: list[tuple[str, str]] = []
    full = memory.AMOUNTS["declared"]

    def add(topic_id: str, amount: float, reason: str) -> None:
        if topic_id in seen:
            return
        seen.add(topic_id)
        if topic_id in declared:
            result.already += 1
            return
        topic = taxonomy.topics[topic_id]
        ref = TopicRef(id=topic.id, name=topic.name, subject=topic.subject)
        result.evidence.append(memory.Evidence(ref, "declared", amount, reason))

    for text in entries:
        topic = taxonomy.resolve(text)
        if topic is not None:
            add(topic.id, full, f'declared weak: "{text}" (legacy profile)')
            continue
        subject = taxonomy.resolve_subject(text)
        if subject is not None:
            subjects.append((subject.id, text))
        else:
            result.unmatched.append(text)
    for subject_id, text in subjects:
        for topic in taxonomy.topics_of(subject_id):
            add(topic.id, round(full * SUBJECT_FACTOR, 4), f'declared weak: "{text}" (subject)')
    return result


async def _target_org(settings: Settings, slug: str | None, *, dry_run: bool) -> Organization:
    """--org (which must exist), else the default organization, created if missing (a dry
    run only pretends to create it)."""
    if slug is not None:
        org = await orgs_service.find_by_slug(slug=slug)
        if org is None:
            raise ScriptError(f"no organization with slug {slug!r}")
        return org
    if dry_run:
        found = await orgs_service.find_by_slug(slug=settings.default_org_slug)
        return found or orgs_service.draft_org(
            name=settings.default_org_name, slug=settings.default_org_slug
        )
    return await orgs_service.ensure_default_org(
        slug=settings.default_org_slug, name=settings.default_org_name
    )


async def import_one(
    profile: LegacyProfile,
    *,
    name: str,
    org: Organization,
    taxonomy: Taxonomy,
    dry_run: bool,
    summary: Summary,
) -> User:
    """Imports (or, with `dry_run`, only plans) one valid profile; counts into `summary`.
    Returns the account (with `dry_run`, a new one is an unsaved draft)."""
    assert org.id is not None
    user = await users_service.find_by_legacy_id(legacy_id=profile.user_id)
    new_user = user is None
    if user is None:
        email = placeholder_email(profile.user_id)
        imported = Profile(
            display_name=profile.name or "Learner", exam=profile.exam, coaching=profile.coaching
        )
        if dry_run:  # only planned: an unsaved account with a fresh id stands in for it
            user = users_service.draft_user(
                email=email,
                password_hash=None,
                org_id=org.id,
                profile=imported,
                legacy_id=profile.user_id,
            )
        else:
            try:
                user = await users_service.create_user(
                    email=email,
                    password_hash=None,  # no login until the learner claims the account
                    org_id=org.id,
                    profile=imported,
                    legacy_id=profile.user_id,
                )
            except Conflict:
                raise InvalidFile("a user with this user_id was created meanwhile") from None
    assert user.id is not None

    weak = map_weak_topics(
        profile.weak_topics,
        taxonomy,
        set() if new_user else await memory.declared_topic_ids(user_id=user.id),
    )
    for text in weak.unmatched:
        summary.note("skipped", name, f"weak topic {text!r} matches no topic or subject")
    summary.count("weak topics", "skipped", len(weak.unmatched))
    summary.count("weak topics", "created", len(weak.evidence))
    summary.count("weak topics", "unchanged", weak.already)

    conversation_id = conversation_id_for(profile.user_id)
    turns = [Turn(t.role, t.content, t.timestamp) for t in profile.history]
    plan = await plan_history(
        user=user,
        conversation_id=conversation_id,
        turns=turns,
        prefix=MESSAGE_PREFIX,
        taxonomy=taxonomy,
    )
    if turns:
        summary.count("conversations", "unchanged" if plan.conversation_exists else "created")
    summary.count("messages", "created", len(plan.new_messages))
    summary.count("messages", "unchanged", plan.stored)

    if not dry_run:
        await memory.record(user.id, weak.evidence)
        if turns and (plan.new_messages or not plan.conversation_exists):
            await write_history(
                user=user, conversation_id=conversation_id, title=CONVERSATION_TITLE, plan=plan
            )
    if new_user:
        summary.count("profiles", "created")
    elif weak.evidence or plan.new_messages or (turns and not plan.conversation_exists):
        summary.count("profiles", "updated")
    else:
        summary.count("profiles", "unchanged")
    return user


async def invite_one(
    profile: LegacyProfile,
    user: User,
    *,
    name: str,
    mailer: StandaloneMailer | None,
    summary: Summary,
) -> None:
    """`--invite`: a claim invitation to the profile's email, counted under "invitations"
    (created: sent, or with a dry run, would be sent). Skipped when the account is claimed
    already or the email belongs to another account; unchanged when a live invitation to
    that email exists (a rerun mails nobody twice). `mailer` None: a dry run."""
    if profile.email is None:
        return
    try:
        email = _EMAIL.validate_python(profile.email).lower()
    except ValidationError:
        summary.note("skipped", name, "email is not a valid address", section="invitations")
        return
    assert user.id is not None
    if await claim.has_pending_invite(user_id=user.id, email=email):
        summary.count("invitations", "unchanged")
        return
    try:
        if mailer is None:
            await claim.check_invitable(user=user, email=email)
        else:
            sent = await claim.send_invite(
                mail=mailer, user=user, email=email, actor_id=None, via="import_profiles"
            )
            mailer.track(sent.job_id)
    except AppError as exc:  # account_not_claimable, email_taken: the reason, no address
        outcome: Outcome = "failed" if exc.status >= 500 else "skipped"
        summary.note(outcome, name, f"no invitation: {exc.code}", section="invitations")
        return
    summary.count("invitations", "created")


async def _finish_mail(mailer: StandaloneMailer, summary: Summary) -> None:
    """Without Redis the mails are sent from this process: wait for them before leaving."""
    if mailer.durable:
        summary.footer.append(
            f"{len(mailer.job_ids)} invitation mail(s) queued in Redis for the server's workers"
        )
        return
    undelivered = await mailer.wait_sent(MAIL_WAIT_SECONDS)
    if undelivered:
        summary.note(
            "failed",
            "mail",
            f"{undelivered} invitation mail(s) could not be delivered (see SMTP_URL)",
            section="invitations",
        )


def legacy_dir(value: str) -> Path:
    """argparse type: an existing directory holding at least one `*.json` file."""
    path = Path(value)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value!r} is not a directory")
    if next((p for p in path.glob("*.json") if p.is_file()), None) is None:
        raise argparse.ArgumentTypeError(f"{value!r} holds no *.json files")
    return path


async def run(args: argparse.Namespace, settings: Settings) -> Summary:
    dry_run: bool = args.dry_run
    invite: bool = args.invite
    title = "import_profiles" + (" (dry run: nothing was written or sent)" if dry_run else "")
    summary = Summary(title)
    sections = ("profiles", "conversations", "messages", "weak topics")
    for section in (*sections, "invitations") if invite else sections:
        summary.row(section)
    files = await asyncio.to_thread(json_files, Path(args.dir))
    taxonomy = load_taxonomy()
    seen: dict[str, str] = {}  # user_id -> the file that had it first
    async with database(settings), AsyncExitStack() as stack:
        mailer = None
        if invite and not dry_run:
            mailer = await stack.enter_async_context(standalone_mailer(settings))
        org = await _target_org(settings, args.org, dry_run=dry_run)
        with progress_bar("importing profiles", len(files)) as advance:
            for path in files:
                try:
                    profile = await read_profile(path)
                    if profile.user_id in seen:
                        raise InvalidFile(f"duplicate user_id (also in {seen[profile.user_id]})")
                    seen[profile.user_id] = path.name
                    user = await import_one(
                        profile,
                        name=path.name,
                        org=org,
                        taxonomy=taxonomy,
                        dry_run=dry_run,
                        summary=summary,
                    )
                    if invite:
                        await invite_one(
                            profile, user, name=path.name, mailer=mailer, summary=summary
                        )
                except InvalidFile as exc:
                    summary.note("invalid", path.name, str(exc), section="profiles")
                except PyMongoError as exc:
                    summary.note("failed", path.name, type(exc).__name__, section="profiles")
                advance(1)
        profiles = summary.row("profiles")
        summary.footer.append(f"{len(files)} file(s) read from {args.dir}")
        if mailer is not None:
            await _finish_mail(mailer, summary)
        if not dry_run:
            await audit_service.record(
                action="legacy.import_profiles",
                org_id=org.id,
                target_type="organization",
                target_id=str(org.id),
                details={
                    "files": len(files),
                    "created": profiles.created,
                    "updated": profiles.updated,
                    "unchanged": profiles.unchanged,
                    "invalid": profiles.invalid,
                    "failed": profiles.failed,
                },
            )
    return summary


def build_parser() -> Parser:
    parser = Parser(
        prog="python -m scripts.import_profiles",
        description=(
            "Import the old file-based bot's learner profiles (DIR/*.json) as StarGuide users.\n"
            "Each file becomes a learner whose legacy_id is the file's user_id (a file\n"
            "without one, like the old bot's profiles/<user_id>.json, takes its file name),\n"
            "with no password (they claim the account later), its profile, its weak topics as\n"
            "learner memory and its history as one conversation. Invalid files are named in\n"
            "the summary and skipped. Running it again changes nothing; a file whose history\n"
            "grew only gets the new messages appended."
        ),
        epilog=(
            "examples:\n"
            "  python -m scripts.import_profiles ./legacy --dry-run\n"
            "  python -m scripts.import_profiles ./legacy --org allen-kota\n"
            "  python -m scripts.import_profiles ./legacy --invite --dry-run\n"
            "\n"
            "exit codes: 0 all files imported (or unchanged), 1 some file was invalid or\n"
            "failed (the valid ones are still imported), 2 bad options or DIR is missing or\n"
            "holds no *.json files. Format and mapping rules: docs/SCRIPTS.md"
        ),
    )
    parser.add_argument("dir", type=legacy_dir, metavar="DIR", help="directory of *.json files")
    parser.add_argument(
        "--dry-run", action="store_true", help="validate and report, but write nothing"
    )
    parser.add_argument(
        "--org",
        metavar="SLUG",
        help="organization the new learners join (default: DEFAULT_ORG_SLUG)",
    )
    parser.add_argument(
        "--invite",
        action="store_true",
        help=(
            "mail a claim invitation to each profile's email (accounts not claimed yet, no "
            "live invitation to that email); with --dry-run, only report who would get one"
        ),
    )
    return parser


def main(argv: list[str] | None = None, *, settings: Settings | None = None) -> int:
    return run_main(build_parser(), run, argv, settings=settings)


if __name__ == "__main__":
    sys.exit(main())
