"""Opaque access tokens: RFC 7662 introspection at the issuer's IdP, answers checked like JWT claims.

The gateway authenticates to the endpoint (``client_secret_basic``, ``client_secret_post`` or
``private_key_jwt``), requires ``"active": true``, then checks ``iss``, ``aud``, ``exp``, ``nbf``,
``iat``, the lifetime and the principal claim exactly as for a JWT. Answers are cached (see
introspection_cache); concurrent look-ups of one token make one request. When the endpoint cannot
answer, ``on_error`` decides: ``deny`` (503) or ``cached`` (a token seen active before is accepted up
to its ``exp``); an unknown token is never accepted. The token is never logged.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import aiohttp
import jwt

from gateway.auth.introspection_cache import Answer, IntrospectionCache, cache_key
from gateway.auth.jwt import build_principal, check_claims
from gateway.auth.settings import AuthSettings, IssuerSettings
from gateway.errors import AuthenticationError, ServiceUnavailable
from gateway.observability.throttle import LogThrottle
from gateway.principal import Principal

log = logging.getLogger("gateway.auth.introspection")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ANSWER_BYTES = 64 * 1024


class IdpUnavailable(Exception):
    """The introspection endpoint gave no usable answer; the message is safe to log (no token)."""


class Introspector:
    def __init__(
        self,
        issuer: IssuerSettings,
        settings: AuthSettings,
        http: Callable[[], aiohttp.ClientSession],
        clock: Callable[[], float],
        on_lookup: Callable[[str], None] | None = None,
    ) -> None:
        assert issuer.introspection is not None
        self._issuer = issuer
        self._config = issuer.introspection
        self._settings = settings
        self._http = http
        self._clock = clock
        self._on_lookup = on_lookup
        self.cache = IntrospectionCache(self._config.cache_size, clock)
        self.lookups = 0
        """Introspection requests sent (the cache and coalescing keep this low)."""
        self._in_flight = 0
        self._log_budget = LogThrottle()

    @property
    def token_prefix(self) -> str:
        return self._config.token_prefix

    async def authenticate(self, token: str) -> Principal:
        key = cache_key(token, self._issuer.issuer)
        now = self._clock()
        kept = self.cache.get(key)
        if kept is not None and now < kept.fresh_until:
            return self._accept(kept)
        try:
            answer = await self.cache.once(key, lambda: self._lookup(token))
        except IdpUnavailable as exc:
            allowed, held = self._log_budget.allow()
            if allowed:
                more = f" ({held} more not logged)" if held else ""
                log.warning("introspection at %s failed: %s%s", self._config.url, exc, more)
            if self._config.on_error == "cached" and kept is not None and kept.principal is not None:
                return self._accept(kept)
            raise ServiceUnavailable(
                "the identity provider cannot check this token now; retry later",
                reason="idp-unavailable",
                headers={"Retry-After": "5"},
            ) from None
        return self._accept(answer)

    def _accept(self, answer: Answer) -> Principal:
        if answer.principal is None:
            raise AuthenticationError("token is not active", reason=answer.reason)
        return answer.principal

    async def _lookup(self, token: str) -> Answer:
        if self._in_flight >= self._config.max_concurrent_lookups:
            self._report("busy")
            raise IdpUnavailable("too many introspection requests in flight")
        self.lookups += 1
        self._in_flight += 1
        try:
            body = await self._post(token)
        finally:
            self._in_flight -= 1
        now = self._clock()
        negative_until = now + self._config.negative_cache_seconds
        if body.get("active") is not True:
            self._report("inactive")
            return Answer(None, negative_until, negative_until)
        try:
            claims = _claims(body)
            check_claims(claims, self._issuer, self._settings, now)
            principal = build_principal(claims, self._issuer, self._settings)
        except AuthenticationError as refused:
            self._report("refused")
            return Answer(None, negative_until, negative_until, refused.reason)
        self._report("active")
        exp = float(claims["exp"]) + self._settings.leeway_seconds
        return Answer(principal, min(exp, now + self._config.cache_ttl_seconds), exp)

    def _report(self, outcome: str) -> None:
        if self._on_lookup is not None:
            self._on_lookup(outcome)

    async def _post(self, token: str) -> dict[str, Any]:
        config = self._config
        form = {"token": token, "token_type_hint": "access_token"}
        headers = {"Accept": "application/json"}
        secret = config.client_secret.reveal() if config.client_secret is not None else ""
        if config.auth_method == "client_secret_basic":
            pair = f"{quote(config.client_id, safe='')}:{quote(secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        elif config.auth_method == "client_secret_post":
            form |= {"client_id": config.client_id, "client_secret": secret}
        else:
            form |= {"client_assertion_type": ASSERTION_TYPE, "client_assertion": self._assertion()}
        timeout = aiohttp.ClientTimeout(total=config.timeout_seconds)
        try:
            async with self._http().post(
                config.url, data=form, headers=headers, timeout=timeout, allow_redirects=False
            ) as resp:
                if resp.status != 200:
                    self._report("error")
                    raise IdpUnavailable(f"HTTP {resp.status}")
                raw = await resp.content.read(MAX_ANSWER_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._report("error")
            raise IdpUnavailable(type(exc).__name__) from None
        if len(raw) > MAX_ANSWER_BYTES:
            self._report("error")
            raise IdpUnavailable("answer too large")
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("active"), bool):
            self._report("error")
            raise IdpUnavailable("answer is not an RFC 7662 JSON object with a boolean active")
        return body

    def _assertion(self) -> str:
        config = self._config
        assert config.private_key is not None
        now = int(self._clock())
        claims = {
            "iss": config.client_id,
            "sub": config.client_id,
            "aud": config.assertion_audience or config.url,
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(16),
        }
        headers = {"kid": config.key_id} if config.key_id else None
        return jwt.encode(
            claims, config.private_key.reveal(), algorithm=config.assertion_algorithm, headers=headers
        )


def _claims(body: dict[str, Any]) -> dict[str, Any]:
    """The introspection answer as token claims. ``token_use``, where an IdP gives it, must say access."""
    token_use = body.get("token_use")
    if token_use is not None and token_use != "access_token":
        raise AuthenticationError("token is not an access token", reason="invalid-token")
    return {name: value for name, value in body.items() if name != "active"}
