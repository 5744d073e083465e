"""The Redis limiter sends the calls of one loop turn as one pipeline: concurrent requests share one
connection and one round trip, stay exact (each script atomic, in arrival order), recover a flushed
script inside a batch, and all fail as one call would when Redis is gone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis

from gateway.ratelimit.base import Limit, LimiterUnavailable, limit_key
from gateway.ratelimit.redis import GCRA_SHA, RedisLimiter
from tests.support.redis_server import RedisServer, redis_server, redis_server_binary

__all__ = ["redis_server"]  # the fixture, imported for pytest

pytestmark = pytest.mark.skipif(redis_server_binary() is None, reason="redis-server not installed")


def limit(key: str = "k", burst: int = 25) -> Limit:
    return Limit(key=limit_key("alice", key), rate_per_second=0.001, burst=burst, name="rule")


@pytest.fixture
async def limiter(redis_server: RedisServer) -> AsyncIterator[RedisLimiter]:
    limiter = RedisLimiter(redis_server.url, timeout_ms=2000)
    yield limiter
    await limiter.close()


@pytest.fixture
def admin(redis_server: RedisServer) -> redis.Redis:
    return redis.Redis(port=redis_server.port, decode_responses=True)


def connections(admin: redis.Redis) -> int:
    return int(admin.info("stats")["total_connections_received"])


async def test_concurrent_requests_share_one_connection_and_stay_exact(
    limiter: RedisLimiter, admin: redis.Redis
) -> None:
    before = connections(admin)
    results = await asyncio.gather(*(limiter.hit([limit(), limit("other", 100)], 1) for _ in range(40)))
    assert [r.allowed for r in results] == [True] * 25 + [False] * 15  # arrival order, all or nothing
    assert [r.remaining for r in results[:25]] == list(range(24, -1, -1))
    assert connections(admin) - before == 1  # one call each would have opened up to 40
    assert admin.exists("crmgw:rl:" + limit("other").key) == 1


async def test_a_flushed_script_is_loaded_again_inside_a_batch(
    limiter: RedisLimiter, admin: redis.Redis
) -> None:
    assert (await limiter.hit([limit(burst=10)], 1)).allowed
    admin.script_flush()
    results = await asyncio.gather(*(limiter.hit([limit(burst=10)], 1) for _ in range(12)))
    assert [r.allowed for r in results] == [True] * 9 + [False] * 3
    assert admin.script_exists(GCRA_SHA) == [True]


async def test_every_request_of_a_batch_fails_as_one_call_would(redis_server: RedisServer) -> None:
    limiter = RedisLimiter(redis_server.url, timeout_ms=300)
    redis_server.stop()
    outcomes = await asyncio.gather(*(limiter.hit([limit()], 1) for _ in range(10)), return_exceptions=True)
    assert all(isinstance(outcome, LimiterUnavailable) for outcome in outcomes), outcomes
    assert len({id(outcome) for outcome in outcomes}) == 10
    assert all(str(outcome).startswith("redis ") for outcome in outcomes)
    await limiter.close()


async def test_a_caller_that_gave_up_is_left_out(limiter: RedisLimiter, admin: redis.Redis) -> None:
    waiting = asyncio.ensure_future(limiter.hit([limit(burst=3)], 1))
    await asyncio.sleep(0)  # it has queued its call; the batch goes at the next turn
    waiting.cancel()  # gone before that turn: not charged
    with pytest.raises(asyncio.CancelledError):
        await waiting
    results = await asyncio.gather(*(limiter.hit([limit(burst=3)], 1) for _ in range(3)))
    assert [r.allowed for r in results] == [True, True, True]
    assert waiting.cancelled()
