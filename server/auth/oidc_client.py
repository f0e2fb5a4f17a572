"""Talking to OpenID providers: discovery, the authorization URL, the code exchange and the ID
token's verification (docs/ACCOUNTS.md, "Single sign-on").

authlib's `AsyncOAuth2Client` (on httpx2) builds the authorization URL with the PKCE S256
challenge and makes the token request with the client's credentials; joserfc (authlib's own JOSE
library) checks the ID token's signature against the provider's JWKS and its `iss`, `aud`,
`exp`, `iat` and `nonce`. Discovery documents and key sets are cached per instance for
`OIDC_CACHE_SECONDS`; a key set is fetched again at once when a token names a key it lacks (the
provider rotated its keys), at most once a minute.

A provider that cannot be reached, answers 5xx or sends a broken document is a dependency down:
503 `dependency_unavailable` with `details.dependency = "oidc:<name>"`, never a 500.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx2
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from server.auth.oidc_store import OneTimeStore
from server.config import OidcProviderSettings
from server.errors import AppError, NotFound, ServiceUnavailable

log = logging.getLogger("starguide.auth.oidc")

# Asymmetric algorithms only: "none" and HS256 (signed with the client secret) are refused.
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
_JWKS_REFETCH_SECONDS = 60.0
_CLOCK_LEEWAY_SECONDS = 60
CALLBACK_PATH = "/api/v1/auth/oidc/{name}/callback"
# Google documents that its ID tokens' `iss` is "https://accounts.google.com" or, for some,
# "accounts.google.com"; any other provider's `iss` must be exactly its discovered issuer.
_ISSUER_ALIASES = {"https://accounts.google.com": ("accounts.google.com",)}


def accepted_issuers(issuer: str) -> list[str]:
    """The `iss` values an ID token of the provider with this discovered issuer may carry."""
    return [issuer, *_ISSUER_ALIASES.get(issuer, ())]


class OidcError(AppError):
    """The login failed at the provider or its answer failed a check. `code` is what the
    callback hands the app in `?error=` (docs/ACCOUNTS.md lists them)."""

    status = 400
    code = "sso_failed"


def provider_not_found() -> NotFound:
    return NotFound("No such sign-in provider.", code="oidc_provider_not_found")


def unavailable(name: str) -> ServiceUnavailable:
    return ServiceUnavailable(
        "The sign-in provider is unavailable right now; try again in a few seconds.",
        code="dependency_unavailable",
        details={"dependency": f"oidc:{name}", "retry_after": 5},
    )


@dataclass(frozen=True)
class Discovery:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    algorithms: tuple[str, ...]
    # `token_endpoint_auth_methods_supported`; absent means client_secret_basic (Discovery §3).
    auth_methods: tuple[str, ...] = ("client_secret_basic",)


def _encode_client_secret_basic(
    client: Any, method: str, uri: str, headers: dict[str, str], body: str
) -> tuple[str, dict[str, str], str]:
    """HTTP Basic with the client id and secret form-encoded first, as RFC 6749 §2.3.1 says
    (authlib sends them raw, so a secret with `+`, `%`, `:` or a space fails at compliant
    providers such as oidc-provider). Ordinary secrets are unchanged by the encoding."""
    pair = f"{quote(client.client_id, safe='')}:{quote(client.client_secret, safe='')}"
    headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    return uri, headers, body


def token_auth_method(found: Discovery, *, has_secret: bool) -> str:
    """How the client authenticates at the token endpoint: `none` for a public client;
    else client_secret_basic when the provider supports it (the default of OpenID Connect,
    Google and Keycloak take both), client_secret_post when that is all it lists."""
    if not has_secret:
        return "none"
    if "client_secret_basic" not in found.auth_methods and (
        "client_secret_post" in found.auth_methods
    ):
        return "client_secret_post"
    return "client_secret_basic"


class OidcProvider:
    """One configured provider: its settings, the OAuth 2 client and the cached documents."""

    def __init__(
        self, *, name: str, settings: OidcProviderSettings, public_url: str, timeout_s: float
    ) -> None:
        self.name = name
        self.settings = settings
        self.callback_url = public_url + CALLBACK_PATH.format(name=name)
        secret = settings.client_secret.get_secret_value() if settings.client_secret else None
        # Shared by every login of this provider: `create_authorization_url` reads only the
        # client's settings, and `fetch_token`'s result is used from its return value.
        self.oauth = AsyncOAuth2Client(
            client_id=settings.client_id,
            client_secret=secret,
            token_endpoint_auth_method="client_secret_basic" if secret else "none",
            scope=settings.scope,
            redirect_uri=self.callback_url,
            code_challenge_method="S256",
            timeout=timeout_s,
            follow_redirects=False,
        )
        self.oauth.register_client_auth_method(("client_secret_basic", _encode_client_secret_basic))
        self.discovery: tuple[float, Discovery] | None = None
        self.keys: tuple[float, KeySet] | None = None
        self.keys_fetched_at = 0.0
        self.lock = asyncio.Lock()


class OidcClients:
    """Every provider of `OIDC_PROVIDERS`, built once per instance (`AppState.oidc`), with the
    shared one-time store of login states and codes (`store`)."""

    def __init__(
        self,
        *,
        providers: dict[str, OidcProviderSettings],
        public_url: str,
        cache_seconds: int,
        timeout_s: float,
        store: OneTimeStore,
    ) -> None:
        self.store = store
        self._providers = {
            name: OidcProvider(
                name=name, settings=settings, public_url=public_url, timeout_s=timeout_s
            )
            for name, settings in providers.items()
        }
        self._cache_seconds = cache_seconds
        self._http = httpx2.AsyncClient(timeout=timeout_s, follow_redirects=False)

    def names(self) -> list[str]:
        return sorted(self._providers)

    def get(self, name: str) -> OidcProvider:
        provider = self._providers.get(name)
        if provider is None:
            raise provider_not_found()
        return provider

    async def aclose(self) -> None:
        await self._http.aclose()
        for provider in self._providers.values():
            await provider.oauth.aclose()

    async def _get_json(self, provider: OidcProvider, url: str) -> dict[str, Any]:
        try:
            response = await self._http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            data = response.json()
        except (httpx2.HTTPError, ValueError) as exc:
            # The class only: URLs of a provider are configuration, not secrets, but an error
            # text may carry a response body.
            log.warning("oidc provider %s unreachable: %s", provider.name, type(exc).__name__)
            raise unavailable(provider.name) from exc
        if not isinstance(data, dict):
            raise unavailable(provider.name)
        return data

    async def discovery(self, name: str) -> Discovery:
        provider = self.get(name)
        cached = provider.discovery
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        async with provider.lock:
            cached = provider.discovery
            if cached is not None and cached[0] > time.monotonic():
                return cached[1]
            url = provider.settings.issuer + "/.well-known/openid-configuration"
            document = await self._get_json(provider, url)
            found = _parse_discovery(provider, document)
            provider.discovery = (time.monotonic() + self._cache_seconds, found)
            return found

    async def authorization_url(
        self, name: str, *, state: str, nonce: str, code_verifier: str
    ) -> str:
        provider = self.get(name)
        found = await self.discovery(name)
        url, _ = provider.oauth.create_authorization_url(
            found.authorization_endpoint, state=state, nonce=nonce, code_verifier=code_verifier
        )
        return str(url)

    async def exchange_code(self, name: str, *, code: str, code_verifier: str) -> dict[str, Any]:
        """The token response (with `id_token`). The provider refusing the code (used,
        expired, wrong verifier): `sso_failed`; the provider down: 503."""
        provider = self.get(name)
        found = await self.discovery(name)
        method = token_auth_method(found, has_secret=provider.settings.client_secret is not None)
        try:
            token = await provider.oauth.fetch_token(
                found.token_endpoint,
                auth=provider.oauth.client_auth(method),
                grant_type="authorization_code",
                code=code,
                code_verifier=code_verifier,
            )
        except OAuthError as exc:
            log.info("oidc code exchange refused by %s: %s", provider.name, exc.error)
            raise OidcError("The sign-in provider refused the login.") from exc
        except ValueError as exc:  # a 2xx/4xx answer that is not a JSON object
            log.info("oidc token answer of %s unreadable: %s", provider.name, type(exc).__name__)
            raise OidcError("The sign-in provider refused the login.") from exc
        except httpx2.HTTPError as exc:
            log.warning("oidc token endpoint of %s failed: %s", provider.name, type(exc).__name__)
            raise unavailable(provider.name) from exc
        if not isinstance(token.get("id_token"), str):
            raise OidcError("The sign-in provider sent no ID token.")
        return dict(token)

    async def verify_id_token(self, name: str, id_token: str, *, nonce: str) -> dict[str, Any]:
        """The ID token's claims once its signature (by the provider's JWKS), `iss`, `aud`
        (and `azp` when there are several audiences), `exp`, `iat` and `nonce` all hold.
        Anything else: `invalid_id_token`."""
        provider = self.get(name)
        found = await self.discovery(name)
        algorithms = [a for a in found.algorithms if a in SIGNING_ALGORITHMS] or ["RS256"]
        keys = await self._keys(provider, found, refresh=False)
        try:
            try:
                token = jwt.decode(id_token, keys, algorithms=algorithms)
            except JoseError:
                # A key the cached set lacks may be a rotation: one fresh set, then a verdict.
                fresh = await self._keys(provider, found, refresh=True)
                if fresh is keys:
                    raise
                token = jwt.decode(id_token, fresh, algorithms=algorithms)
            client_id = provider.settings.client_id
            jwt.JWTClaimsRegistry(
                leeway=_CLOCK_LEEWAY_SECONDS,
                iss={"essential": True, "values": accepted_issuers(found.issuer)},
                aud={"essential": True, "value": client_id},
                sub={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(token.claims)
        except (JoseError, ValueError) as exc:
            log.info("oidc ID token of %s refused: %s", provider.name, type(exc).__name__)
            raise OidcError(
                "The sign-in provider's ID token is invalid.", code="invalid_id_token"
            ) from exc
        claims = dict(token.claims)
        audience = claims["aud"]
        if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != client_id:
            raise OidcError("The ID token was issued to another client.", code="invalid_id_token")
        return claims

    async def userinfo(self, name: str, *, access_token: str) -> dict[str, Any]:
        """The UserInfo claims, for providers that keep `email` out of the ID token; {} when
        the provider has no UserInfo endpoint."""
        provider = self.get(name)
        found = await self.discovery(name)
        if found.userinfo_endpoint is None:
            return {}
        try:
            response = await self._http.get(
                found.userinfo_endpoint, headers={"Authorization": f"Bearer {access_token}"}
            )
            response.raise_for_status()
            data = response.json()
        except (httpx2.HTTPError, ValueError) as exc:
            log.warning("oidc userinfo of %s failed: %s", provider.name, type(exc).__name__)
            raise unavailable(provider.name) from exc
        return data if isinstance(data, dict) else {}

    async def _keys(self, provider: OidcProvider, found: Discovery, *, refresh: bool) -> KeySet:
        cached = provider.keys
        now = time.monotonic()
        if cached is not None and (
            (not refresh and cached[0] > now)
            or (refresh and now - provider.keys_fetched_at < _JWKS_REFETCH_SECONDS)
        ):
            return cached[1]
        document = await self._get_json(provider, found.jwks_uri)
        try:
            keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
        except (JoseError, ValueError, KeyError, TypeError) as exc:
            raise unavailable(provider.name) from exc
        provider.keys = (now + self._cache_seconds, keys)
        provider.keys_fetched_at = now
        return keys


def _parse_discovery(provider: OidcProvider, document: dict[str, Any]) -> Discovery:
    """OpenID Connect Discovery 1.0 §4.3: the document's `issuer` must be the configured one,
    or anybody able to serve that URL could name themselves the issuer."""
    try:
        issuer = document["issuer"]
        found = Discovery(
            issuer=issuer,
            authorization_endpoint=document["authorization_endpoint"],
            token_endpoint=document["token_endpoint"],
            jwks_uri=document["jwks_uri"],
            userinfo_endpoint=document.get("userinfo_endpoint"),
            algorithms=tuple(document.get("id_token_signing_alg_values_supported") or ("RS256",)),
            auth_methods=tuple(
                document.get("token_endpoint_auth_methods_supported") or ("client_secret_basic",)
            ),
        )
    except (KeyError, TypeError) as exc:
        log.warning("oidc discovery of %s is incomplete", provider.name)
        raise unavailable(provider.name) from exc
    if not isinstance(issuer, str) or issuer.rstrip("/") != provider.settings.issuer:
        log.warning("oidc discovery of %s names another issuer", provider.name)
        raise unavailable(provider.name)
    return found
