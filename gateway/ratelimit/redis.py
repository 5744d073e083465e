"""GCRA shared across gateway replicas through Redis: one atomic Lua script per request.

The requests that reach the limiter in one turn of the event loop go to Redis together (one EVALSHA per
request, each atomic on the server, in arrival order): one write and one round trip for all of them. Each
request's wait is bounded by ``timeout_ms``; a failed or timed-out batch fails every request in it the way a
failed call did (LimiterUnavailable), and each then follows ``on_error``. One server (``redis://``,
``rediss://``, ``unix://``) is written to directly on one connection (:mod:`gateway.ratelimit.direct`);
Sentinel, a URL option that path does not take, and an injected client go through redis-py's pipeline
(:mod:`gateway.ratelimit.pipelined`); Redis Cluster keeps one call per request.

The script reads the server's ``TIME`` (replicas with skewed clocks agree; Redis 7 replicates a script's
effects, so a non-deterministic command before a write is allowed), checks every key of the request and
charges all of them or none, atomically. Keys are ``<prefix><Limit.key>`` and expire (PEXPIRE) when their
bucket is full again, so Redis holds only buckets that still matter.

URLs (``timeout_ms`` bounds connect, each socket operation and each whole call):

- ``redis://[[user]:[password]@]host[:port][/db]``, ``rediss://...`` (TLS), ``unix:///path/to.sock?db=0``:
  one server, on one connection, with the options ``db``, ``client_name`` and redis-py's ``ssl_*`` ones
  (read by redis-py's URL parser). Any other redis-py URL option sends the URL to redis-py's client, a
  blocking pool of ``max_connections`` (a request waits for a free connection up to the timeout).
- ``redis+cluster://[[user]:[password]@]host:port`` (``rediss+cluster://`` for TLS): Redis Cluster through
  ``redis.asyncio.cluster.RedisCluster``, any node as the seed. All keys of one request must hash to one
  slot: build them with :func:`gateway.ratelimit.base.limit_key`, whose ``{principal}`` hash tag does that,
  or put a hash tag into the prefix (``{crmgw}:rl:``) to keep every bucket on one node.
- ``redis+sentinel://[[user]:[password]@]host[:port][,host[:port]...]/service_name[/db]``
  (``rediss+sentinel://`` for TLS to the master): the current master of ``service_name`` as reported by
  the listed Sentinels (port 26379 by default), through ``redis.asyncio.sentinel.Sentinel``; failover is
  followed automatically. The credentials are the master's; a ``?sentinel_password=`` query parameter
  authenticates to the Sentinels themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisClusterException, RedisError

from gateway.ratelimit.base import Cost, Limit, LimiterUnavailable, LimitResult, check_request, unlimited
from gateway.ratelimit.direct import DirectScript
from gateway.ratelimit.pipelined import Pipelined
from gateway.ratelimit.resp import Target, pack, target_from_url
from gateway.redisurl import parse_sentinel_url

# KEYS[i]: the buckets; ARGV[3i-2], ARGV[3i-1], ARGV[3i]: emission interval (microseconds), burst and cost
# of KEYS[i]. Returns {allowed 0|1, index of the most restrictive key, remaining, reset us, retry-after us}.
# Mirrors base.gcra_step and base.most_restrictive.
GCRA_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local eps = 1e-9
local all_allowed = true
local new_tats = {}
local pick, pick_allowed, pick_remaining, pick_reset, pick_retry = 0, true, 0, 0, 0
for i = 1, #KEYS do
  local interval = tonumber(ARGV[3 * i - 2])
  local burst = tonumber(ARGV[3 * i - 1])
  local cost = tonumber(ARGV[3 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]))
  local used = 0
  if tat and tat > now then used = (tat - now) / interval end
  local after = used + cost
  local allowed = after <= burst + eps
  local remaining, reset, retry
  if allowed then
    remaining = math.max(0, math.floor(burst - after + eps))
    reset = after * interval
    retry = 0
    new_tats[i] = now + after * interval
  else
    all_allowed = false
    remaining = math.max(0, math.floor(burst - used + eps))
    reset = used * interval
    retry = (after - burst) * interval
  end
  local better
  if pick == 0 then
    better = true
  elseif not allowed then
    better = pick_allowed or retry > pick_retry
  elseif pick_allowed then
    better = remaining < pick_remaining or (remaining == pick_remaining and reset > pick_reset)
  else
    better = false
  end
  if better then
    pick, pick_allowed, pick_remaining, pick_reset, pick_retry = i, allowed, remaining, reset, retry
  end
end
if all_allowed then
  for i = 1, #KEYS do
    local ttl_ms = math.max(1, math.ceil((new_tats[i] - now) / 1000))
    redis.call('SET', KEYS[i], string.format('%.17g', new_tats[i]), 'PX', ttl_ms)
  end
end
return {all_allowed and 1 or 0, pick, pick_remaining, math.ceil(pick_reset), math.ceil(pick_retry)}
"""
GCRA_SHA = hashlib.sha1(GCRA_SCRIPT.encode()).hexdigest()

COMMANDS_KEPT = 4096
"""The direct path's EVALSHA commands remembered by (limits, costs), encoded; then it starts again."""

_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
_BACKEND_ERRORS = (RedisError, RedisClusterException, OSError, TimeoutError)


class RedisLimiter:
    """A :class:`~gateway.ratelimit.base.Limiter` on Redis; every failure surfaces as LimiterUnavailable.

    ``client`` (a ready ``redis.asyncio`` Redis or RedisCluster) replaces ``url``; the limiter then does not
    close it. The direct path bounds each batch with one timer; through redis-py each call is bounded by
    ``timeout_ms`` with ``asyncio.timeout`` (not ``wait_for``, which on Python 3.11 runs every call in a task
    of its own).
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "crmgw:rl:",
        timeout_ms: int = 50,
        client: Redis | RedisCluster | None = None,
        max_connections: int = 64,
    ) -> None:
        if timeout_ms <= 0:
            raise ValueError("timeout_ms must be positive")
        self.prefix = prefix
        self.timeout_s = timeout_ms / 1000
        self._closers: list[Callable[[], Awaitable[None]]] = []
        self._client: Any = None
        self._direct: DirectScript | None = None
        self._commands: dict[tuple[tuple[Limit, ...], tuple[int, ...]], tuple[list[bytes], bytes]] = {}
        target = self._direct_target(url) if client is None else None
        if target is not None:
            self._direct = DirectScript(target, GCRA_SHA, GCRA_SCRIPT, self.timeout_s)
            self._closers.append(self._direct.close)
        elif client is not None:
            self._client = client
        else:
            self._client = self._connect(url, max_connections)
            self._closers.insert(0, self._client.aclose)
        self._cluster = isinstance(self._client, RedisCluster)
        self._pipelined = Pipelined(self._client, GCRA_SHA, GCRA_SCRIPT, self._bounded, _unavailable)

    async def hit(self, limits: Sequence[Limit], cost: Cost) -> LimitResult:
        costs = check_request(limits, cost)
        if not limits:
            return unlimited("redis")
        direct = self._direct
        if direct is not None:  # bounded and failed by the batch it goes in
            key = (tuple(limits), tuple(costs))
            command = self._commands.get(key)
            if command is None:
                parts = direct.parts(*self._script_input(limits, costs))
                command = self._commands[key] = (parts, pack(parts))
                if len(self._commands) > COMMANDS_KEPT:
                    self._commands.clear()
            reply: Any = await direct.call_parts(*command)
        else:
            keys, args = self._script_input(limits, costs)
            if self._cluster and len({key_slot(key.encode()) for key in keys}) > 1:
                raise ValueError("in Redis Cluster the keys of one request must share a {hash tag}")
            call = self._run_script(keys, args) if self._cluster else self._pipelined.call(keys, args)
            reply = await self._bounded(call)
        allowed, index, remaining, reset_us, retry_us = (int(value) for value in reply)
        return LimitResult(
            allowed=bool(allowed),
            limit=limits[index - 1],
            remaining=remaining,
            reset_seconds=reset_us / 1_000_000,
            retry_after_seconds=retry_us / 1_000_000,
            backend="redis",
        )

    def _script_input(self, limits: Sequence[Limit], costs: list[int]) -> tuple[list[str], list[str | int]]:
        """The script's KEYS and ARGV for these limits and costs."""
        args: list[str | int] = []
        for limit, charge in zip(limits, costs, strict=True):
            args += [repr(limit.interval * 1_000_000), limit.burst, charge]
        return [self.prefix + limit.key for limit in limits], args

    async def ping(self) -> bool:
        try:
            if self._direct is not None:
                return await self._direct.command(b"PING") == b"PONG"
            return bool(await self._bounded(self._client.ping()))
        except LimiterUnavailable:
            return False

    async def close(self) -> None:
        self._pipelined.cancel()
        for close in self._closers:
            with contextlib.suppress(*_BACKEND_ERRORS):
                await close()
        self._closers.clear()

    async def _run_script(self, keys: list[str], args: list[str | int]) -> Any:
        try:
            return await self._client.evalsha(GCRA_SHA, len(keys), *keys, *args)
        except NoScriptError:  # script cache flushed, or a fresh server after failover: EVAL loads it again
            return await self._client.eval(GCRA_SCRIPT, len(keys), *keys, *args)

    async def _bounded(self, call: Awaitable[Any]) -> Any:
        try:
            async with asyncio.timeout(self.timeout_s):
                return await call
        except TimeoutError as exc:
            raise LimiterUnavailable(f"redis timed out after {self.timeout_s * 1000:.0f} ms") from exc
        except _BACKEND_ERRORS as exc:
            raise _unavailable(exc) from exc

    @staticmethod
    def _direct_target(url: str) -> Target | None:
        scheme = _scheme(url)
        return target_from_url(url) if scheme in ("redis", "rediss", "unix") else None

    def _connect(self, url: str, max_connections: int) -> Redis | RedisCluster:
        scheme = _scheme(url)
        timeouts: dict[str, Any] = {
            "socket_timeout": self.timeout_s,
            "socket_connect_timeout": self.timeout_s,
            # one immediate retry on a broken connection (a stale pooled socket after a Redis restart);
            # never on a timeout, which may mean the script ran and would charge twice
            "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        }
        if scheme in ("redis", "rediss", "unix"):
            pool = BlockingConnectionPool.from_url(
                url, max_connections=max_connections, timeout=self.timeout_s, **timeouts
            )
            return Redis.from_pool(pool)
        if scheme in ("redis+cluster", "rediss+cluster"):
            seed_url = scheme.partition("+")[0] + url[len(scheme) :]
            return RedisCluster.from_url(seed_url, max_connections=max_connections, **timeouts)
        if scheme in ("redis+sentinel", "rediss+sentinel"):
            spec = parse_sentinel_url(url)
            sentinel = Sentinel(
                spec.nodes,
                sentinel_kwargs={
                    "socket_timeout": self.timeout_s,
                    "socket_connect_timeout": self.timeout_s,
                    "password": spec.sentinel_password,
                },
            )
            for node in sentinel.sentinels:
                self._closers.append(node.aclose)
            master: Redis = sentinel.master_for(
                spec.service_name,
                username=spec.username,
                password=spec.password,
                db=spec.db,
                ssl=spec.ssl,
                max_connections=max_connections,
                **timeouts,
            )
            return master
        raise ValueError(
            f"unsupported Redis URL scheme {scheme!r} (redis, rediss, unix, redis+cluster, "
            "rediss+cluster, redis+sentinel, rediss+sentinel)"
        )


def _scheme(url: str) -> str:
    scheme, separator, _ = url.partition("://")
    scheme = scheme.lower()
    if not separator or not _SCHEME.fullmatch(scheme):
        raise ValueError("a Redis URL must start with a scheme such as redis://")  # never echo the URL
    return scheme


def _unavailable(exc: BaseException) -> LimiterUnavailable:
    return LimiterUnavailable(f"redis failed: {type(exc).__name__}")
