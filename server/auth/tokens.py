"""JWTs: HS256 pinned on decode, typed so an access token is never a refresh token."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import jwt

from server.errors import Unauthorized

TokenType = Literal["access", "refresh"]
_REQUIRED = ["iss", "aud", "sub", "exp", "iat", "jti", "typ"]


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: datetime


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenCodec:
    def __init__(
        self,
        *,
        secret: str,
        issuer: str,
        audience: str,
        access_ttl_seconds: int,
        refresh_ttl_seconds: int,
    ) -> None:
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self.access_ttl_seconds = access_ttl_seconds
        self.refresh_ttl_seconds = refresh_ttl_seconds

    def issue(self, *, subject: str, token_type: TokenType, **extra: Any) -> IssuedToken:
        now = datetime.now(UTC)
        ttl = self.access_ttl_seconds if token_type == "access" else self.refresh_ttl_seconds
        expires_at = now + timedelta(seconds=ttl)
        jti = uuid.uuid4().hex
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": subject,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
            "jti": jti,
            "typ": token_type,
            **extra,
        }
        token = jwt.encode(claims, self._secret, algorithm="HS256")
        return IssuedToken(token=token, jti=jti, expires_at=expires_at)

    def decode(self, token: str, *, expected_type: TokenType) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": _REQUIRED},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The token has expired.", code="token_expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("The token is invalid.", code="invalid_token") from exc
        if claims.get("typ") != expected_type:
            raise Unauthorized("The token is invalid.", code="invalid_token")
        return claims
