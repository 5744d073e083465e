"""Authenticator: a gateway token in, a Principal out (or an AuthenticationError with a stable reason).

Order: size, verified-token cache, structure, ``alg`` (never ``none``), issuer from the unverified
``iss``, the issuer's algorithm allow-list, key by ``kid`` (one JWKS refetch per cooldown on a miss),
signature, claims. Header members ``jku``/``x5u``/``jwk``/``x5c`` are never read.

JWT or opaque: a token with exactly two dots is a JWT (JWS compact serialization: three base64url
segments) and is verified as one, never introspected. Any other token is opaque: it goes to the RFC 7662
introspection endpoint of the one issuer that introspects (or, with several, of the issuer whose
``token_prefix`` it starts with); with no introspecting issuer it is refused as malformed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from gateway.auth.cache import VerifiedTokenCache
from gateway.auth.introspection import Introspector
from gateway.auth.jwks import FetchOutcome, JwksCache, fetch_jwks
from gateway.auth.jwt import build_principal, check_claims, parse_unverified, verify_signature
from gateway.auth.keys import HMAC_ALGORITHMS, VerificationKey, parse_key_text, select_key
from gateway.auth.settings import AuthSettings, IssuerSettings, validate
from gateway.errors import AuthenticationError
from gateway.principal import Principal
from gateway.revocation.checker import RevocationChecker
from gateway.secrets import Secret


@dataclass(slots=True)
class _Issuer:
    settings: IssuerSettings
    static_keys: tuple[VerificationKey, ...]
    jwks: JwksCache | None

    def keys(self) -> tuple[VerificationKey, ...]:
        return self.static_keys + (self.jwks.keys if self.jwks else ())

    def has_keys(self) -> bool:
        return bool(self.settings.hs256_secrets or self.keys() or self.settings.introspection)


class Authenticator:
    """Verifies gateway tokens for the configured issuers. ``start()`` once inside the event loop
    (fetches JWKS; never raises for an unreachable IdP), ``close()`` on shutdown."""

    def __init__(
        self,
        settings: AuthSettings,
        *,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.time,
        on_jwks_fetch: FetchOutcome | None = None,
        on_introspection: Callable[[str, str], None] | None = None,
        revocations: RevocationChecker | None = None,
    ) -> None:
        validate(settings)
        self._settings = settings
        self._session = session
        self._owns_session = session is None
        self._clock = clock
        self._cache = VerifiedTokenCache(settings.cache_size, clock)
        self._issuers = {
            issuer.issuer: _Issuer(
                issuer,
                tuple(parse_key_text(k.key, k.kid) for k in issuer.static_keys),
                self._jwks_cache(issuer, on_jwks_fetch),
            )
            for issuer in settings.issuers
        }
        self.introspectors = [
            Introspector(issuer, settings, self._http, clock, _bind(on_introspection, issuer.issuer))
            for issuer in settings.issuers
            if issuer.introspection is not None
        ]
        self.revocations = revocations
        self._started = False
        self.signature_checks = 0
        """How many signature verifications ran (the cache makes a repeated token cost none)."""

    def _jwks_cache(self, issuer: IssuerSettings, on_fetch: FetchOutcome | None) -> JwksCache | None:
        url = issuer.jwks_url
        if url is None:
            return None

        async def fetch() -> list[VerificationKey]:
            return await fetch_jwks(self._http(), url, issuer.jwks_timeout_seconds)

        return JwksCache(
            issuer.issuer,
            fetch,
            ttl_seconds=issuer.jwks_ttl_seconds,
            cooldown_seconds=issuer.jwks_refetch_cooldown_seconds,
            clock=self._clock,
            on_fetch=on_fetch,
            on_change=self._cache.clear,  # a token verified with a removed key must be verified again
        )

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    def _jwks_caches(self) -> list[JwksCache]:
        return [i.jwks for i in self._issuers.values() if i.jwks is not None]

    async def start(self) -> None:
        """Fetch every issuer's JWKS once (failures are logged, not raised) and start background refresh."""
        if self._started:
            return
        self._started = True
        caches = self._jwks_caches()
        await asyncio.gather(*(c.refresh() for c in caches))
        for cache in caches:
            cache.start_background_refresh()

    async def close(self) -> None:
        if self.revocations is not None:
            await self.revocations.close()
        for cache in self._jwks_caches():
            await cache.close()
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def ready(self) -> bool:
        """Every issuer has at least one key (static, HMAC secret or fetched from its JWKS)."""
        return all(issuer.has_keys() for issuer in self._issuers.values())

    def key_age_seconds(self) -> dict[str, float]:
        """Per JWKS issuer, seconds since its keys were fetched (``inf`` if never).

        Issuers with static keys or secrets only are not listed."""
        return {name: i.jwks.age_seconds() for name, i in self._issuers.items() if i.jwks is not None}

    async def authenticate(self, token: str) -> Principal:
        """The verified caller, or AuthenticationError with a stable ``reason`` (never the token); then
        the revocation list, on every path (a cached token too)."""
        principal = self._cached(token)
        if principal is None:
            principal = await self._verified(token)
        revocations = self.revocations
        if revocations is not None and not revocations.nothing_revoked():
            await revocations.check(principal)
        return principal

    def _cached(self, token: str) -> Principal | None:
        """The principal the cache holds for the token, after the size check (one coroutine less)."""
        limit = self._settings.max_token_bytes
        if len(token) > limit or len(token.encode("utf-8", "replace")) > limit:
            raise AuthenticationError("token is too large", reason="token-too-large")
        return self._cache.get(token)

    async def _verified(self, token: str) -> Principal:
        """A token the cache does not hold, verified (or introspected) and cached until its ``exp``."""
        settings = self._settings
        if token.count(".") != 2 and self.introspectors:
            return await self._introspector_for(token).authenticate(token)
        unverified = parse_unverified(token)
        algorithm = unverified.alg
        if algorithm.lower() == "none":
            raise AuthenticationError("unsigned tokens are not accepted", reason="unsupported-algorithm")
        issuer = self._issuer_of(unverified.claims.get("iss"))
        if algorithm not in issuer.settings.algorithms:
            raise AuthenticationError("token algorithm is not accepted", reason="unsupported-algorithm")
        if algorithm in HMAC_ALGORITHMS:
            claims = self._verify_hmac(token, algorithm, issuer.settings.hs256_secrets)
        else:
            key = await self._find_key(issuer, unverified.kid, algorithm)
            self.signature_checks += 1
            claims = verify_signature(token, algorithm, key)
        check_claims(claims, issuer.settings, settings, self._clock())
        principal = build_principal(claims, issuer.settings, settings)
        if principal.expires_at is not None:
            self._cache.put(token, principal, principal.expires_at)
        return principal

    def _introspector_for(self, token: str) -> Introspector:
        if len(self.introspectors) == 1 and token.startswith(self.introspectors[0].token_prefix):
            return self.introspectors[0]
        for introspector in self.introspectors:
            if len(self.introspectors) > 1 and token.startswith(introspector.token_prefix):
                return introspector
        raise AuthenticationError("no issuer introspects tokens of this form", reason="wrong-issuer")

    def _issuer_of(self, iss: Any) -> _Issuer:
        if iss is None:
            raise AuthenticationError("token has no iss claim", reason="missing-claim")
        issuer = self._issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise AuthenticationError("token issuer is not accepted", reason="wrong-issuer")
        return issuer

    def _verify_hmac(self, token: str, algorithm: str, secrets: tuple[Secret, ...]) -> dict[str, Any]:
        failure: AuthenticationError | None = None
        for secret in secrets:
            self.signature_checks += 1
            try:
                return verify_signature(token, algorithm, secret)
            except AuthenticationError as exc:
                if exc.reason != "bad-signature":
                    raise
                failure = exc
        raise failure or AuthenticationError("token signature is not valid", reason="bad-signature")

    async def _find_key(self, issuer: _Issuer, kid: str | None, algorithm: str) -> VerificationKey:
        jwks = issuer.jwks
        if jwks is not None:
            jwks.refresh_in_background_if_stale()
        key = select_key(issuer.keys(), kid, algorithm)
        if key is None and jwks is not None:
            await jwks.refresh()
            key = select_key(issuer.keys(), kid, algorithm)
        if key is None:
            raise AuthenticationError("no key of the issuer matches the token", reason="unknown-key")
        return key


def _bind(callback: Callable[[str, str], None] | None, issuer: str) -> Callable[[str], None] | None:
    if callback is None:
        return None
    return lambda outcome: callback(issuer, outcome)
