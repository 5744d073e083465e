"""An issuer's JWKS: fetched over HTTP, cached with a TTL, refreshed in the background or on demand.

Rules: at most one fetch in flight per issuer (callers join it); a fetch asked for within the cooldown
of the previous attempt is refused (``cooldown``), so a flood of unknown ``kid``s costs one fetch;
a failed fetch keeps the keys already held (stale keys beat no keys when the IdP is down).
Times come from the injected clock; only the background loop's sleeps use real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.auth.keys import KeyFormatError, VerificationKey, parse_jwks

log = logging.getLogger("gateway.auth.jwks")

MAX_JWKS_BYTES = 512 * 1024
FetchOutcome = Callable[[str, str], None]
"""callback(issuer, outcome) with outcome ``ok``, ``error`` or ``cooldown``."""


class JwksError(Exception):
    """A JWKS fetch failed; the message names the cause, never key material."""


async def fetch_jwks(session: aiohttp.ClientSession, url: str, timeout: float) -> list[VerificationKey]:
    """GET ``url`` (no redirects, bounded size) and return its usable signature keys."""
    try:
        async with session.get(
            url,
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=False,
            headers={"Accept": "application/json"},
        ) as response:
            if response.status != 200:
                raise JwksError(f"HTTP {response.status}")
            body = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise JwksError("document is too large")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise JwksError(type(exc).__name__) from None
    try:
        keys = parse_jwks(json.loads(body))
    except (ValueError, RecursionError, KeyFormatError) as exc:
        raise JwksError(str(exc) if isinstance(exc, KeyFormatError) else "document is not JSON") from None
    if not keys:
        raise JwksError("document has no usable signature key")
    return keys


def key_set(keys: Iterable[VerificationKey]) -> frozenset[tuple[str | None, str | None, bytes]]:
    """What identifies a key set: each key's kid, alg and public key."""
    return frozenset(
        (k.kid, k.alg, k.key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)) for k in keys
    )


class JwksCache:
    def __init__(
        self,
        issuer: str,
        fetch: Callable[[], Awaitable[list[VerificationKey]]],
        *,
        ttl_seconds: float,
        cooldown_seconds: float,
        clock: Callable[[], float],
        on_fetch: FetchOutcome | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        """``on_change``: called when a fetch brings a key set that differs from the one held (a key
        added, removed or replaced), so tokens verified with a removed key can be forgotten."""
        self.issuer = issuer
        self._on_change = on_change
        self._fetch = fetch
        self._ttl = ttl_seconds
        self._cooldown = cooldown_seconds
        self._clock = clock
        self._on_fetch = on_fetch
        self.keys: tuple[VerificationKey, ...] = ()
        self.fetched_at: float | None = None
        self._last_attempt: float | None = None
        self._inflight: asyncio.Task[bool] | None = None
        self._loop: asyncio.Task[None] | None = None

    def age_seconds(self) -> float:
        """Seconds since the keys were last fetched; infinite when never fetched."""
        return math.inf if self.fetched_at is None else max(0.0, self._clock() - self.fetched_at)

    def is_stale(self) -> bool:
        return self.age_seconds() >= self._ttl

    def in_cooldown(self) -> bool:
        return self._last_attempt is not None and self._clock() - self._last_attempt < self._cooldown

    async def refresh(self) -> bool:
        """Fetch now, join the fetch under way, or refuse within the cooldown. True when keys were loaded."""
        if self._inflight is not None:
            return await asyncio.shield(self._inflight)
        if self.in_cooldown():
            self._report("cooldown")
            return False
        return await asyncio.shield(self._start_fetch())

    def _start_fetch(self) -> asyncio.Task[bool]:
        self._last_attempt = self._clock()
        task = asyncio.create_task(self._fetch_once())
        self._inflight = task
        return task

    async def _fetch_once(self) -> bool:
        try:
            keys = await self._fetch()
        except JwksError as exc:
            log.warning(
                "JWKS fetch for issuer %s failed: %s; keeping %d cached keys",
                self.issuer,
                exc,
                len(self.keys),
            )
            self._report("error")
            return False
        except Exception:
            log.exception("JWKS fetch for issuer %s failed unexpectedly", self.issuer)
            self._report("error")
            return False
        finally:
            self._inflight = None
        changed = key_set(keys) != key_set(self.keys)
        self.keys = tuple(keys)
        self.fetched_at = self._clock()
        self._report("ok")
        if changed and self._on_change is not None:
            self._on_change()
        return True

    def refresh_in_background_if_stale(self) -> None:
        """When the TTL has passed and keys are held, refresh without making the caller wait."""
        if self.keys and self.is_stale() and self._inflight is None and not self.in_cooldown():
            self._start_fetch()

    def start_background_refresh(self) -> None:
        """Keep the keys fresh without traffic: refetch after the TTL, retry after the cooldown when empty."""
        if self._loop is None:
            self._loop = asyncio.create_task(self._refresh_loop())

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self._next_delay())
            due = self.is_stale() if self.keys else not self.in_cooldown()
            if due:
                await self.refresh()

    def _next_delay(self) -> float:
        if self.keys and self.fetched_at is not None:
            return max(0.1, self._ttl - self.age_seconds())
        since = 0.0 if self._last_attempt is None else self._clock() - self._last_attempt
        return max(0.1, self._cooldown - since)

    async def close(self) -> None:
        pending: list[asyncio.Task[Any]] = [t for t in (self._loop, self._inflight) if t is not None]
        self._loop = None
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _report(self, outcome: str) -> None:
        if self._on_fetch is None:
            return
        try:
            self._on_fetch(self.issuer, outcome)
        except Exception:
            log.exception("on_jwks_fetch callback failed")
