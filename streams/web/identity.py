"""Who is asking: a token from a tenant's OpenID Connect provider, checked, becomes an `Identity`.

The checks are joserfc's: the signature against the issuer's published keys (fetched from its
discovery document, cached, fetched again when a token names a key not seen yet, at most once
per `REFETCH_SECONDS`), then `iss`, `aud`, `exp` and `nbf` with a small leeway. The tenant is
the one whose configured issuer signed the token: never a parameter the caller can change. A
token refused says why in `TokenRefused.reason`, for the log; the caller answers every refusal
alike (401) and never logs the token.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from scoring.config import IdentityConfig, Role, TenantConfig
from streams.access import LOCAL, Identity

log = logging.getLogger(__name__)

# Asymmetric algorithms only: a provider's token is never checked against a shared secret.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
LEEWAY_SECONDS = 30
REFETCH_SECONDS = 60.0
FETCH_TIMEOUT_SECONDS = 10.0


class TokenRefused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def roles_of(claims: Mapping[str, Any], config: IdentityConfig) -> frozenset[Role]:
    """The engine's roles the token's role claim maps to; values not mapped grant nothing."""
    raw = claims.get(config.roles_claim)
    values = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    mapped = config.role_map
    return frozenset(mapped[v] for v in values if isinstance(v, str) and v in mapped)


def _text_claim(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) and value else None


class _Keys:
    def __init__(self) -> None:
        self.keys: KeySet | None = None
        self.fetched_at = 0.0
        self.lock = asyncio.Lock()


class Verifier:
    """Checks tokens for every tenant with an identity provider configured."""

    def __init__(self, tenants: Mapping[str, TenantConfig], *,
                 clock: Callable[[], float] = time.time, leeway: int = LEEWAY_SECONDS) -> None:
        self._by_issuer = {config.identity.issuer: (name, config.identity)
                           for name, config in tenants.items() if config.identity is not None}
        self._clock = clock
        self._leeway = leeway
        self._keys: dict[str, _Keys] = {issuer: _Keys() for issuer in self._by_issuer}

    async def verify(self, token: str) -> Identity:
        try:
            compact = extract_compact(token.encode())
            claims = json.loads(compact.payload)
        except (JoseError, ValueError, UnicodeDecodeError) as exc:
            raise TokenRefused(f"not a signed token ({type(exc).__name__})") from None
        issuer = claims.get("iss") if isinstance(claims, dict) else None
        if not isinstance(issuer, str) or issuer not in self._by_issuer:
            raise TokenRefused("issuer is no tenant's")
        tenant, config = self._by_issuer[issuer]
        kid = compact.headers().get("kid")
        keys = await self._keyset(issuer, kid if isinstance(kid, str) else None)
        try:
            checked = jwt.decode(token, keys, algorithms=list(ALGORITHMS))
        except JoseError as exc:
            raise TokenRefused(f"signature not valid for the issuer ({exc.error})") from None
        registry = jwt.JWTClaimsRegistry(
            now=lambda: int(self._clock()), leeway=self._leeway,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": config.accepted_audience},
            exp={"essential": True},
        )
        try:
            registry.validate(checked.claims)
        except JoseError as exc:
            raise TokenRefused(f"claims not valid ({exc.error}: {exc.description})") from None
        person = _text_claim(checked.claims, config.person_claim)
        if person is None:
            raise TokenRefused(f"the {config.person_claim!r} claim is missing")
        return Identity(
            tenant=tenant, person=person, roles=roles_of(checked.claims, config),
            student_id=_text_claim(checked.claims, config.student_id_claim),
            staff_id=_text_claim(checked.claims, config.staff_id_claim),
        )

    async def _keyset(self, issuer: str, kid: str | None) -> KeySet:
        held = self._keys[issuer]
        async with held.lock:
            known = held.keys is not None and (
                kid is None or any(key.kid == kid for key in held.keys.keys))
            stale = self._clock() - held.fetched_at >= REFETCH_SECONDS
            if not known and (held.keys is None or stale):
                held.keys = await _fetch_keys(issuer)
                held.fetched_at = self._clock()
            if held.keys is None:
                raise TokenRefused("the issuer's keys are not known")
            return held.keys


async def _fetch_keys(issuer: str) -> KeySet:
    timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_SECONDS)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(f"{issuer}/.well-known/openid-configuration") as response:
                response.raise_for_status()
                discovery = await response.json()
            async with session.get(discovery["jwks_uri"]) as response:
                response.raise_for_status()
                return KeySet.import_key_set(await response.json())
    except (aiohttp.ClientError, TimeoutError, KeyError, ValueError) as exc:
        raise TokenRefused(f"the issuer's keys could not be fetched ({type(exc).__name__})"
                           ) from None


class Authenticator:
    """Who an `Authorization` header proves the caller is: `Bearer <token>` from a tenant's
    provider, or `Local <token>` with the token this worker wrote into its data folder (the
    command line on the same machine, see `streams.access`). Refusals are logged with their
    reason, never with the token."""

    def __init__(self, verifier: Verifier, local_token: str) -> None:
        self._verifier = verifier
        self._local_token = local_token

    async def identify(self, authorization: str | None) -> Identity | None:
        scheme, _, value = (authorization or "").strip().partition(" ")
        value = value.strip()
        if not value:
            return None
        if scheme.lower() == "local":
            return LOCAL if hmac.compare_digest(value.encode(), self._local_token.encode()) \
                else None
        if scheme.lower() != "bearer":
            return None
        try:
            return await self._verifier.verify(value)
        except TokenRefused as refused:
            log.info("a bearer token was refused: %s", refused.reason)
            return None
