"""The revocation list in Redis, shared by every replica (by default the limiter's Redis).

One key per entry, ``<prefix><kind>:<value>``, holding ``{"at": revoked_at, "until": expires_at}`` and
expiring (PEXPIREAT) with the entry. The default prefix carries a ``{hash tag}`` so that in Redis
Cluster every entry lives in one slot and one MGET reads a token's entries in one round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError

from gateway.redisurl import parse_sentinel_url
from gateway.revocation.store import Entry


class RevocationUnavailable(Exception):
    """The store could not be read or written; the message is safe to log (never the URL)."""


class RedisStore:
    def __init__(self, url: str, *, prefix: str, timeout_ms: int) -> None:
        self.prefix = prefix
        self.timeout_s = timeout_ms / 1000
        self._client: Any = _connect(url, self.timeout_s)

    async def add(self, kind: str, value: str, revoked_at: float, ttl_seconds: float) -> Entry:
        entry = Entry(kind, value, revoked_at, revoked_at + ttl_seconds)
        payload = json.dumps({"at": entry.revoked_at, "until": entry.expires_at})
        await self._bounded(
            self._client.set(self._key(kind, value), payload, pxat=int(entry.expires_at * 1000))
        )
        return entry

    async def remove(self, kind: str, value: str) -> bool:
        return bool(await self._bounded(self._client.delete(self._key(kind, value))))

    async def lookup(self, targets: Sequence[tuple[str, str]]) -> list[Entry]:
        keys = [self._key(kind, value) for kind, value in targets]
        values = await self._bounded(self._client.mget(keys))
        return [
            _entry(kind, value, raw)
            for (kind, value), raw in zip(targets, values, strict=True)
            if raw is not None
        ]

    async def entries(self) -> list[Entry]:
        found: list[Entry] = []

        async def scan() -> None:
            async for key in self._client.scan_iter(match=_glob_escape(self.prefix) + "*", count=500):
                raw = await self._client.get(key)
                kind, _, value = key.decode()[len(self.prefix) :].partition(":")
                if raw is not None:
                    found.append(_entry(kind, value, raw))

        await self._bounded(scan(), scale=100)
        return sorted(found, key=lambda e: e.revoked_at)

    async def ping(self) -> bool:
        try:
            return bool(await self._bounded(self._client.ping()))
        except RevocationUnavailable:
            return False

    async def close(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._client.aclose()

    def _key(self, kind: str, value: str) -> str:
        return f"{self.prefix}{kind}:{value}"

    async def _bounded(self, call: Any, scale: int = 1) -> Any:
        try:
            async with asyncio.timeout(self.timeout_s * scale):
                return await call
        except TimeoutError:
            raise RevocationUnavailable(
                f"redis timed out after {self.timeout_s * scale * 1000:.0f} ms"
            ) from None
        except (RedisError, RedisClusterException, OSError) as exc:
            raise RevocationUnavailable(f"redis failed: {type(exc).__name__}") from None


def _entry(kind: str, value: str, raw: bytes | str) -> Entry:
    try:
        data = json.loads(raw)
        return Entry(kind, value, float(data["at"]), float(data["until"]))
    except (ValueError, KeyError, TypeError):
        # an entry the gateway cannot read still revokes: everything issued until now
        return Entry(kind, value, float("inf"), float("inf"))


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


def _connect(url: str, timeout_s: float) -> Redis | RedisCluster:
    scheme = url.partition("://")[0].lower()
    options: dict[str, Any] = {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s}
    if scheme in ("redis", "rediss", "unix"):
        return Redis.from_url(url, **options)
    if scheme in ("redis+cluster", "rediss+cluster"):
        return RedisCluster.from_url(scheme.partition("+")[0] + url[len(scheme) :], **options)
    if scheme in ("redis+sentinel", "rediss+sentinel"):
        from redis.asyncio.sentinel import Sentinel

        spec = parse_sentinel_url(url)
        sentinel = Sentinel(spec.nodes, sentinel_kwargs={**options, "password": spec.sentinel_password})
        master: Redis = sentinel.master_for(
            spec.service_name,
            username=spec.username,
            password=spec.password,
            db=spec.db,
            ssl=spec.ssl,
            **options,
        )
        return master
    raise ValueError("unsupported Redis URL scheme")  # never echo the URL
