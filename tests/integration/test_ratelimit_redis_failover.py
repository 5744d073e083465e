"""A shared Redis limiter that dies, hangs and comes back, with two gateway instances in front of it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from gateway.errors import ServiceUnavailable
from gateway.ratelimit.base import Limit, LimitResult, limit_key
from gateway.ratelimit.fallback import FallbackLimiter, OnError
from gateway.ratelimit.memory import MemoryLimiter
from gateway.ratelimit.redis import RedisLimiter
from tests.support.redis_server import RedisServer, redis_server, redis_server_binary

__all__ = ["redis_server"]  # the fixture, imported for pytest

pytestmark = pytest.mark.skipif(redis_server_binary() is None, reason="redis-server not installed")

TIMEOUT_MS = 100
MAX_CALL_S = 1.0  # generous bound for one call with a 100 ms timeout
HEALTHY_TIMEOUT_MS = 900
"""For the tests of a healthy Redis: 20 concurrent calls on a loaded machine can outlast 100 ms, and a
timed-out call falls back to the local limiter, which admits more than the shared limit."""
RULE = Limit(key=limit_key("alice", "civi"), rate_per_second=0.001, burst=5, name="per-user")


@dataclass
class Gateway:
    """One gateway replica: its own Redis client and its own local fallback."""

    limiter: FallbackLimiter
    events: list[str] = field(default_factory=list)

    async def timed_hit(self, rule: Limit = RULE) -> LimitResult:
        started = time.monotonic()
        try:
            return await self.limiter.hit([rule], 1)
        finally:
            assert time.monotonic() - started < MAX_CALL_S


GatewayFactory = Callable[..., Gateway]


@pytest.fixture
async def make_gateway(redis_server: RedisServer) -> AsyncIterator[GatewayFactory]:
    made: list[Gateway] = []

    def make(on_error: OnError, backoff_s: float = 0.05, timeout_ms: int = TIMEOUT_MS) -> Gateway:
        events: list[str] = []
        primary = RedisLimiter(redis_server.url, timeout_ms=timeout_ms)
        limiter = FallbackLimiter(primary, MemoryLimiter(), on_error, events.append, backoff_s=backoff_s)
        made.append(Gateway(limiter, events))
        return made[-1]

    yield make
    for gateway in made:
        await gateway.limiter.close()


async def admitted(hits: list[Awaitable[LimitResult]]) -> int:
    """How many of the concurrent hits Redis admitted (all must have been answered by Redis)."""
    results = await asyncio.gather(*hits)
    assert {result.backend for result in results} == {"redis"}
    return sum(result.allowed for result in results)


async def test_shared_limit_across_instances_while_healthy(make_gateway: GatewayFactory) -> None:
    first, second = (make_gateway("local", timeout_ms=HEALTHY_TIMEOUT_MS) for _ in range(2))
    assert await admitted([(first if i % 2 else second).timed_hit() for i in range(20)]) == 5


async def test_allow_mode_admits_when_redis_is_killed(
    redis_server: RedisServer, make_gateway: GatewayFactory
) -> None:
    gateway = make_gateway("allow")
    assert (await gateway.timed_hit()).backend == "redis"
    redis_server.stop()
    results = [await gateway.timed_hit() for _ in range(20)]
    assert all(r.allowed and r.backend == "open" for r in results)
    assert gateway.events[:2] == ["redis_error", "fallback_allow"]


async def test_deny_mode_refuses_when_redis_is_killed(
    redis_server: RedisServer, make_gateway: GatewayFactory
) -> None:
    gateway = make_gateway("deny")
    assert (await gateway.timed_hit()).allowed
    redis_server.stop()
    for _ in range(5):
        with pytest.raises(ServiceUnavailable) as caught:
            await gateway.timed_hit()
        assert caught.value.headers["Retry-After"] == "1"


async def test_local_mode_limits_per_instance_when_redis_is_killed(
    redis_server: RedisServer, make_gateway: GatewayFactory
) -> None:
    first, second = make_gateway("local"), make_gateway("local")
    redis_server.stop()
    first_results = [await first.timed_hit() for _ in range(8)]
    second_results = [await second.timed_hit() for _ in range(8)]
    assert sum(r.allowed for r in first_results) == 5  # each instance enforces the limit on its own
    assert sum(r.allowed for r in second_results) == 5
    assert {r.backend for r in first_results + second_results} == {"fallback"}


async def test_hung_redis_is_bounded_by_the_timeout(
    redis_server: RedisServer, make_gateway: GatewayFactory
) -> None:
    gateway = make_gateway("local", backoff_s=0.0)  # every request tries the hung server
    rule = Limit(key=limit_key("alice", "hung"), rate_per_second=0.001, burst=50, name="per-user")
    assert (await gateway.timed_hit(rule)).backend == "redis"
    redis_server.pause()
    try:
        started = time.monotonic()
        results = [await gateway.timed_hit(rule) for _ in range(3)]
        elapsed = time.monotonic() - started
    finally:
        redis_server.resume()
    assert {r.backend for r in results} == {"fallback"}
    assert elapsed >= 3 * TIMEOUT_MS / 1000 * 0.9  # it really waited for Redis, and no longer than allowed
    assert gateway.events.count("redis_error") == 3
    # back to Redis; a timed-out call may still have run once the server woke up, so the count is a range,
    # but no connection may hand a stale reply to the next call
    after = [await gateway.timed_hit(rule) for _ in range(2)]
    assert {r.backend for r in after} == {"redis"}
    assert 45 <= after[0].remaining <= 48
    assert after[1].remaining == after[0].remaining - 1


async def test_warning_is_logged_once_not_per_request(
    redis_server: RedisServer, make_gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = make_gateway("allow", backoff_s=0.0)
    redis_server.stop()
    with caplog.at_level(logging.WARNING, logger="gateway.ratelimit"):
        for _ in range(30):
            await gateway.timed_hit()
    assert gateway.events.count("redis_error") == 30
    warnings = [r for r in caplog.records if r.name == "gateway.ratelimit" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "127.0.0.1" not in warnings[0].getMessage()  # no connection details (they may carry credentials)


async def test_shared_limiting_resumes_after_restart(
    redis_server: RedisServer, make_gateway: GatewayFactory
) -> None:
    first, second = (make_gateway("local", timeout_ms=HEALTHY_TIMEOUT_MS) for _ in range(2))
    assert (await first.timed_hit()).backend == "redis"
    redis_server.stop()
    assert (await first.timed_hit()).backend == "fallback"
    assert (await second.timed_hit()).backend == "fallback"
    redis_server.restart()  # empty: the buckets start full
    await asyncio.sleep(0.06)  # past the backoff
    assert (await first.timed_hit()).backend == "redis"
    assert (await second.timed_hit()).backend == "redis"
    assert "redis_recovered" in first.events
    # two hits already charged on the fresh server: 3 of the remaining attempts pass, across both instances
    assert await admitted([(first if i % 2 else second).timed_hit() for i in range(20)]) == 3
