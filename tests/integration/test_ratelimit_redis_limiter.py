from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis
import redis.asyncio

from gateway.ratelimit.base import Limit, limit_key
from gateway.ratelimit.redis import GCRA_SHA, RedisLimiter
from gateway.ratelimit.resp import pack
from tests.support.redis_server import RedisServer, redis_server, redis_server_binary

__all__ = ["redis_server"]  # the fixture, imported for pytest

pytestmark = pytest.mark.skipif(redis_server_binary() is None, reason="redis-server not installed")

SLOW = 0.001  # operations per second: nothing refills during a test


def limit(key: str = "k", rate: float = SLOW, burst: int = 5, name: str = "rule") -> Limit:
    return Limit(key=limit_key("alice", key), rate_per_second=rate, burst=burst, name=name)


@pytest.fixture
async def limiter(redis_server: RedisServer) -> AsyncIterator[RedisLimiter]:
    limiter = RedisLimiter(redis_server.url, timeout_ms=1000)
    yield limiter
    await limiter.close()


@pytest.fixture
def admin(redis_server: RedisServer) -> redis.Redis:
    return redis.Redis(port=redis_server.port, decode_responses=True)


async def test_fresh_bucket_admits_exactly_burst(limiter: RedisLimiter) -> None:
    started = time.monotonic()
    results = [await limiter.hit([limit(rate=0.5)], 1) for _ in range(7)]
    elapsed = time.monotonic() - started
    assert [r.allowed for r in results] == [True] * 5 + [False] * 2
    assert [r.remaining for r in results] == [4, 3, 2, 1, 0, 0, 0]
    assert {r.backend for r in results} == {"redis"}
    # The script reads Redis's clock: the time the hits took (long on a loaded machine) has refilled part
    # of the bucket, so the waits are the exact figures less at most that time.
    assert 2.0 - elapsed - 0.001 <= results[5].retry_after_seconds <= 2.0 + 0.001
    assert 10.0 - elapsed - 0.001 <= results[5].reset_seconds <= 10.0 + 0.001


async def test_refill_after_one_interval(limiter: RedisLimiter) -> None:
    rule = limit(rate=2.0, burst=2)  # one operation per 500 ms: room for a slow machine between hits
    assert [(await limiter.hit([rule], 1)).allowed for _ in range(3)] == [True, True, False]
    await asyncio.sleep(0.52)
    assert (await limiter.hit([rule], 1)).allowed
    assert not (await limiter.hit([rule], 1)).allowed


@pytest.mark.parametrize(
    ("costs", "expected"),
    [([3, 2], [True, True]), ([3, 3], [True, False]), ([6], [False]), ([4, 2, 1], [True, False, True])],
)
async def test_cost_counts_operations(limiter: RedisLimiter, costs: list[int], expected: list[bool]) -> None:
    assert [(await limiter.hit([limit()], cost)).allowed for cost in costs] == expected


async def test_all_or_nothing_across_limits(limiter: RedisLimiter) -> None:
    wide = limit("wide", burst=10, name="wide")
    narrow = limit("narrow", burst=2, name="narrow")
    outcomes = [await limiter.hit([wide, narrow], 1) for _ in range(3)]
    assert [o.allowed for o in outcomes] == [True, True, False]
    assert outcomes[2].limit == narrow
    assert (await limiter.hit([wide], 1)).remaining == 7  # the refusal charged nothing


async def test_concurrent_hits_from_two_instances_admit_exactly_the_limit(redis_server: RedisServer) -> None:
    first = RedisLimiter(redis_server.url, timeout_ms=2000)
    second = RedisLimiter(redis_server.url, timeout_ms=2000)
    rule = limit(burst=50)
    try:
        outcomes = await asyncio.gather(*((first if i % 2 else second).hit([rule], 1) for i in range(200)))
    finally:
        await first.close()
        await second.close()
    assert sum(o.allowed for o in outcomes) == 50
    assert sorted(o.remaining for o in outcomes if o.allowed) == list(range(50))


async def test_keys_are_prefixed_and_expire_when_full(limiter: RedisLimiter, admin: redis.Redis) -> None:
    await limiter.hit([limit("a", rate=2.0, burst=10)], 3)  # full again in 1.5 s
    await limiter.hit([limit("b", rate=SLOW, burst=10)], 1)  # full again in 1000 s
    assert sorted(admin.keys("*")) == ["crmgw:rl:{alice}:a", "crmgw:rl:{alice}:b"]
    assert 1400 < admin.pttl("crmgw:rl:{alice}:a") <= 1500
    assert 999_000 < admin.pttl("crmgw:rl:{alice}:b") <= 1_000_000


async def test_refused_request_does_not_extend_ttl(limiter: RedisLimiter, admin: redis.Redis) -> None:
    rule = limit(rate=1.0, burst=1)
    await limiter.hit([rule], 1)
    before = admin.pttl("crmgw:rl:" + rule.key)
    assert not (await limiter.hit([rule], 1)).allowed
    assert admin.pttl("crmgw:rl:" + rule.key) <= before


async def test_custom_prefix(redis_server: RedisServer, admin: redis.Redis) -> None:
    limiter = RedisLimiter(redis_server.url, prefix="other:", timeout_ms=1000)
    await limiter.hit([limit()], 1)
    await limiter.close()
    assert admin.keys("*") == ["other:{alice}:k"]


async def test_bucket_time_is_the_servers(limiter: RedisLimiter, admin: redis.Redis) -> None:
    await limiter.hit([limit(rate=1.0, burst=5)], 1)
    seconds, micros = admin.time()
    stored_us = float(admin.get("crmgw:rl:{alice}:k") or 0)
    server_us = seconds * 1_000_000 + micros
    assert 0 < stored_us - server_us <= 1_000_000  # TAT = server now + one interval


async def test_noscript_after_script_flush_is_recovered(limiter: RedisLimiter, admin: redis.Redis) -> None:
    rule = limit(burst=3)
    assert (await limiter.hit([rule], 1)).allowed
    admin.script_flush()
    assert admin.script_exists(GCRA_SHA) == [False]
    assert [(await limiter.hit([rule], 1)).allowed for _ in range(3)] == [True, True, False]
    assert admin.script_exists(GCRA_SHA) == [True]  # EVAL cached it again: next calls are EVALSHA
    remembered = list(limiter._commands.values())  # the EVAL resend rewrote a copy, not the remembered one
    assert remembered and all(
        parts[0] == b"EVALSHA" and packed == pack(parts) for parts, packed in remembered
    )


async def test_ping(redis_server: RedisServer) -> None:
    limiter = RedisLimiter(redis_server.url, timeout_ms=100)
    assert await limiter.ping()
    redis_server.stop()
    started = time.monotonic()
    assert not await limiter.ping()
    assert time.monotonic() - started < 1.0
    await limiter.close()


async def test_injected_client_is_used_and_left_open(redis_server: RedisServer) -> None:
    client = redis.asyncio.Redis(port=redis_server.port)
    limiter = RedisLimiter("unused://", client=client, timeout_ms=1000)
    assert (await limiter.hit([limit()], 1)).backend == "redis"
    await limiter.close()
    assert await client.ping()
    await client.aclose()


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="scheme 'http'"):
        RedisLimiter("http://user:hunter2@example.org")


async def test_cluster(tmp_path: Path) -> None:
    nodes_file = str(tmp_path / "nodes.conf")
    with RedisServer(extra_args=["--cluster-enabled", "yes", "--cluster-config-file", nodes_file]) as server:
        admin = redis.Redis(port=server.port, decode_responses=True)
        admin.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)  # type: ignore[no-untyped-call]
        deadline = time.monotonic() + 5
        while admin.cluster("info")["cluster_state"] != "ok":
            assert time.monotonic() < deadline, "single-node cluster did not come up"
            await asyncio.sleep(0.05)
        limiter = RedisLimiter(f"redis+cluster://127.0.0.1:{server.port}", timeout_ms=1000)
        try:
            rules = [limit("x", burst=2, name="x"), limit("y", burst=3, name="y")]
            assert [(await limiter.hit(rules, 1)).allowed for _ in range(3)] == [True, True, False]
            split = [
                Limit(key=limit_key("alice", "x"), rate_per_second=1, burst=1, name="a"),
                Limit(key=limit_key("bob", "x"), rate_per_second=1, burst=1, name="b"),
            ]
            with pytest.raises(ValueError, match="hash tag"):
                await limiter.hit(split, 1)
        finally:
            await limiter.close()


async def test_sentinel(redis_server: RedisServer, tmp_path: Path) -> None:
    config = tmp_path / "sentinel.conf"
    config.write_text(f"sentinel monitor gw 127.0.0.1 {redis_server.port} 1\n")
    with RedisServer(config_file=str(config), extra_args=["--sentinel"]) as sentinel:
        limiter = RedisLimiter(f"redis+sentinel://127.0.0.1:{sentinel.port}/gw", timeout_ms=1000)
        try:
            assert [(await limiter.hit([limit(burst=2)], 1)).allowed for _ in range(3)] == [True, True, False]
            assert await limiter.ping()
        finally:
            await limiter.close()
    stored = redis.Redis(port=redis_server.port, decode_responses=True).keys("*")
    assert stored == ["crmgw:rl:{alice}:k"]
