"""Sign-in sessions and the login throttle in export and erasure (docs/PRIVACY.md)."""

from __future__ import annotations

from typing import Any

from models import PasswordResetToken, RefreshToken, UserIdentity
from server.auth import identities, reset
from server.privacy.registry import ErasureContext, ExportContext, PrivacyRegistry, collection_name


async def _export(ctx: ExportContext) -> list[dict[str, Any]]:
    """Sign-in sessions: when, never the token hash or its family."""

    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return [
        {
            "created_at": iso(t.created_at),
            "expires_at": iso(t.expires_at),
            "used_at": iso(t.used_at),
            "revoked_at": iso(t.revoked_at),
        }
        async for t in RefreshToken.find({"user_id": ctx.user_id}).sort("created_at")
    ]


async def _delete(ctx: ErasureContext) -> None:
    result = await RefreshToken.get_pymongo_collection().delete_many({"user_id": ctx.user_id})
    ctx.report.add("deleted", collection_name(RefreshToken), result.deleted_count)


async def _reset_throttle(ctx: ErasureContext) -> None:
    """Through the `limits` library that made the counters: the exact keys, no `SCAN`."""
    await ctx.state.login_throttle.reset(ctx.user.email)


async def _export_resets(ctx: ExportContext) -> list[dict[str, Any]]:
    """Password-reset requests and claim invitations (`purpose`): when, never the token
    hash."""

    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return [
        {
            "purpose": t.purpose,
            "created_at": iso(t.created_at),
            "expires_at": iso(t.expires_at),
            "used_at": iso(t.used_at),
        }
        async for t in PasswordResetToken.find({"user_id": ctx.user_id}).sort("created_at")
    ]


async def _delete_resets(ctx: ErasureContext) -> None:
    collection = PasswordResetToken.get_pymongo_collection()
    result = await collection.delete_many({"user_id": ctx.user_id})
    ctx.report.add("deleted", collection_name(PasswordResetToken), result.deleted_count)


async def _reset_address_limit(ctx: ErasureContext) -> None:
    await reset.clear_address_limit(ctx.state, ctx.user.email)


async def _export_identities(ctx: ExportContext) -> list[dict[str, Any]]:
    """Single sign-on identities: provider, issuer and subject (what the user is known by
    there), and when; no email or token is kept to export."""
    return await identities.export_for_user(user_id=ctx.user_id)


async def _delete_identities(ctx: ErasureContext) -> None:
    """After this the provider account signs in as nobody: its next login is a first one."""
    deleted = await identities.delete_for_user(user_id=ctx.user_id)
    ctx.report.add("deleted", collection_name(UserIdentity), deleted)


def register_privacy_steps(registry: PrivacyRegistry) -> None:
    registry.register_export("sessions", _export, collections=(RefreshToken,))
    registry.register_erase(
        "auth.delete", _delete, phase="per_user", collections=(RefreshToken,), again=True
    )
    registry.register_erase("auth.login_throttle", _reset_throttle, phase="redis")
    registry.register_export("reset_requests", _export_resets, collections=(PasswordResetToken,))
    registry.register_erase(
        "auth.delete_password_resets",
        _delete_resets,
        phase="per_user",
        collections=(PasswordResetToken,),
        again=True,
    )
    registry.register_erase("auth.reset_address_limit", _reset_address_limit, phase="redis")
    registry.register_export("sso_identities", _export_identities, collections=(UserIdentity,))
    registry.register_erase(
        "auth.delete_identities",
        _delete_identities,
        phase="per_user",
        collections=(UserIdentity,),
        again=True,
    )
