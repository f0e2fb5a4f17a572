"""Creates an organization admin, or promotes an existing account to admin.

The password is never an option worth using on a shared machine (it lands in the shell history
and the process list): without `--password` it is prompted for on a terminal, or read as one
line from stdin, so it can come from a secrets manager through a pipe.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from pydantic import EmailStr, TypeAdapter, ValidationError

from models import Profile
from scripts._runtime import Parser, ScriptError, Summary, database, run_main
from server.audit import service as audit_service
from server.auth.passwords import Passwords
from server.auth.schemas import Password
from server.config import Settings
from server.errors import Conflict
from server.orgs import service as orgs_service
from server.users import service as users_service

_EMAIL: TypeAdapter[str] = TypeAdapter(EmailStr)
_PASSWORD: TypeAdapter[str] = TypeAdapter(Password)


def passwords_for(settings: Settings) -> Passwords:
    """The server's hasher at the configured argon2 cost."""
    return Passwords(
        memory_kib=settings.argon2_memory_kib,
        time_cost=settings.argon2_time_cost,
        parallelism=settings.argon2_parallelism,
    )


def valid_email(value: str) -> str:
    try:
        return _EMAIL.validate_python(value.strip()).lower()
    except ValidationError as exc:
        raise ScriptError(f"{value!r} is not a valid email address") from exc


def valid_password(value: str) -> str:
    """Registration's rule (server/auth/schemas.py): 8 to 128 characters."""
    try:
        return _PASSWORD.validate_python(value)
    except ValidationError as exc:
        raise ScriptError("the password must be 8 to 128 characters long") from exc


def read_password() -> str:
    """Prompts twice on a terminal; otherwise reads one line from stdin."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat it: ") != first:
            raise ScriptError("the two passwords differ")
        return first
    line = sys.stdin.readline()
    if not line:
        raise ScriptError("no password on stdin (pass --password, or pipe one line)")
    return line.rstrip("\r\n")


async def run(args: argparse.Namespace, settings: Settings) -> Summary:
    email = valid_email(args.email)
    password = valid_password(args.password if args.password is not None else read_password())
    summary = Summary("create_admin")
    passwords = passwords_for(settings)
    async with database(settings):
        if args.org is None:
            org = await orgs_service.ensure_default_org(
                slug=settings.default_org_slug, name=settings.default_org_name
            )
        else:
            found = await orgs_service.find_by_slug(slug=args.org)
            if found is None:
                raise ScriptError(f"no organization with slug {args.org!r}")
            org = found
        assert org.id is not None
        user = await users_service.find_by_email(email=email)
        if user is None:
            try:
                user = await users_service.create_user(
                    email=email,
                    password_hash=await passwords.hash(password),
                    role="admin",
                    org_id=org.id,
                    profile=Profile(display_name=email.split("@")[0][:80] or "Admin"),
                )
            except Conflict as exc:
                raise ScriptError(f"{email} was created meanwhile; run the script again") from exc
            summary.count("admins", "created")
            await audit_service.record(
                action="user.admin_created",
                org_id=org.id,
                target_type="user",
                target_id=str(user.id),
                details={"via": "scripts.create_admin"},
            )
        else:
            if args.org is not None and user.org_id != org.id:
                raise ScriptError(
                    f"{email} belongs to another organization; this script does not move users"
                )
            assert user.id is not None
            changed: list[str] = []  # field names only: never the password or its hash
            if user.role != "admin":
                await users_service.set_role(user_id=user.id, role="admin")
                changed.append("role")
            if not await passwords.verify(password, user.password_hash):
                await users_service.set_password_hash(
                    user_id=user.id, password_hash=await passwords.hash(password)
                )
                changed.append("password")
            if changed:
                summary.count("admins", "updated")
                await audit_service.record(
                    action="user.admin_updated",
                    org_id=user.org_id,
                    target_type="user",
                    target_id=str(user.id),
                    details={"via": "scripts.create_admin", "changed": sorted(changed)},
                )
            else:
                summary.count("admins", "unchanged")
        if user.disabled:
            summary.footer.append(f"note: {email} is disabled; re-enable it to log in")
        summary.footer.append(f"admin {email} in organization {org.slug!r}")
    return summary


def build_parser() -> Parser:
    parser = Parser(
        prog="python -m scripts.create_admin",
        description=(
            "Create an admin account, or make an existing account an admin.\n"
            "A new admin joins the default organization (DEFAULT_ORG_SLUG) or --org. An\n"
            "existing account is promoted, and its password set only if the given one does\n"
            "not already match, so running it twice changes nothing the second time."
        ),
        epilog=(
            "examples:\n"
            "  python -m scripts.create_admin --email admin@example.com       (prompts)\n"
            "  pass show starguide/admin | python -m scripts.create_admin --email a@example.com\n"
            "  python -m scripts.create_admin --email head@allen.in --org allen-kota\n"
            "\n"
            "The password follows the sign-up rule (8 to 128 characters). Prefer the prompt\n"
            "or stdin: --password is visible in the shell history and the process list.\n"
            "exit codes: 0 created, updated or unchanged; 1 invalid email or password,\n"
            "unknown organization, or a database failure; 2 bad options."
        ),
    )
    parser.add_argument("--email", required=True, help="the admin's email (stored lower-cased)")
    parser.add_argument("--password", help="the password (default: prompt, or one stdin line)")
    parser.add_argument(
        "--org", metavar="SLUG", help="organization (default: DEFAULT_ORG_SLUG, created if needed)"
    )
    return parser


def main(argv: list[str] | None = None, *, settings: Settings | None = None) -> int:
    return run_main(build_parser(), run, argv, settings=settings)


if __name__ == "__main__":
    sys.exit(main())
