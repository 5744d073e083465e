"""The Redis limiter's direct connection against a real redis-server, on asyncio's loop and on uvloop: one
write per loop turn, a dropped connection retried once, a killed or hung server bounded, reconnects, close,
and the Python reply reader where hiredis is not installed."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis

from gateway.ratelimit.base import Limit, LimiterUnavailable, LimitResult, limit_key
from gateway.ratelimit.direct import DirectScript
from gateway.ratelimit.redis import GCRA_SCRIPT, GCRA_SHA, RedisLimiter
from gateway.ratelimit.resp import PyReader, target_from_url
from tests.support.loops import Run, run
from tests.support.redis_server import RedisServer, redis_server, redis_server_binary
from tests.support.tcp_relay import TcpRelay

__all__ = ["redis_server", "run"]  # the fixtures, imported for pytest

pytestmark = pytest.mark.skipif(redis_server_binary() is None, reason="redis-server not installed")


def limit(key: str = "k", burst: int = 25) -> Limit:
    return Limit(key=limit_key("alice", key), rate_per_second=0.001, burst=burst, name="rule")


def admin(port: int, db: int = 0, password: str | None = None) -> redis.Redis:
    return redis.Redis(port=port, db=db, password=password, decode_responses=True)


async def hits(
    limiter: RedisLimiter, count: int, rule: Limit | None = None
) -> list[LimitResult | BaseException]:
    outcomes = asyncio.gather(
        *(limiter.hit([rule or limit()], 1) for _ in range(count)), return_exceptions=True
    )
    return list(await outcomes)


def test_the_calls_of_one_turn_are_one_write_on_one_connection(run: Run, redis_server: RedisServer) -> None:
    with TcpRelay(redis_server.port) as relay:

        async def scenario() -> list[LimitResult | BaseException]:
            limiter = RedisLimiter(f"redis://127.0.0.1:{relay.port}", timeout_ms=3000)
            try:
                await limiter.hit([limit("warm")], 1)  # connects; a fresh server loads the script with EVAL
                return await hits(limiter, 40)
            finally:
                await limiter.close()

        results = run(scenario)
    assert [r.allowed for r in results if isinstance(r, LimitResult)] == [True] * 25 + [False] * 15
    assert [r.remaining for r in results[:25] if isinstance(r, LimitResult)] == list(range(24, -1, -1))
    assert relay.commands(b"EVALSHA") == [1, 40]  # the warm-up, then all 40 in what one recv returned
    assert relay.accepted == 1


@pytest.mark.parametrize(("drops", "allowed"), [(1, [True] * 5), (2, [])])
def test_a_dropped_connection_is_retried_once(
    run: Run, redis_server: RedisServer, drops: int, allowed: list[bool]
) -> None:
    with TcpRelay(redis_server.port) as relay:

        async def scenario() -> tuple[list[LimitResult | BaseException], float]:
            limiter = RedisLimiter(f"redis://127.0.0.1:{relay.port}", timeout_ms=3000)
            try:
                await limiter.hit([limit("warm")], 1)
                relay.drop_next = drops  # the batch's write is lost and its connection reset
                started = time.monotonic()
                return await hits(limiter, 5, limit(burst=5)), time.monotonic() - started
            finally:
                await limiter.close()

        outcomes, elapsed = run(scenario)
    assert [o.allowed for o in outcomes if isinstance(o, LimitResult)] == allowed  # each charged once
    failures = [o for o in outcomes if not isinstance(o, LimitResult)]
    assert all(
        isinstance(f, LimiterUnavailable) and str(f) == "redis failed: ConnectionError" for f in failures
    )
    assert len(failures) == 5 - len(allowed)
    assert elapsed < 2.0  # a reset, not the 3 s timeout
    assert relay.accepted == 2  # the retry on a second connection, and no third
    assert admin(redis_server.port).exists("crmgw:rl:" + limit().key) == (drops == 1)


def test_redis_killed_mid_batch_fails_the_batch_at_once(run: Run, redis_server: RedisServer) -> None:
    async def scenario() -> tuple[list[LimitResult | BaseException], float]:
        limiter = RedisLimiter(redis_server.url, timeout_ms=3000)
        try:
            await limiter.hit([limit("warm")], 1)
            redis_server.pause()
            batch = asyncio.ensure_future(hits(limiter, 10))
            await asyncio.sleep(0.05)  # written, unanswered
            started = time.monotonic()
            redis_server.crash()
            return await batch, time.monotonic() - started
        finally:
            await limiter.close()

    outcomes, elapsed = run(scenario)
    assert all(isinstance(o, LimiterUnavailable) and str(o).startswith("redis failed: ") for o in outcomes)
    assert len({id(o) for o in outcomes}) == 10
    assert elapsed < 2.0  # the reset and the refused reconnect, not the timeout


def test_a_hung_redis_is_bounded_and_its_connection_replaced(run: Run, redis_server: RedisServer) -> None:
    async def scenario() -> tuple[list[LimitResult | BaseException], float, bool, list[LimitResult]]:
        limiter = RedisLimiter(redis_server.url, timeout_ms=200)
        try:
            await limiter.hit([limit(burst=50)], 1)
            redis_server.pause()
            try:
                started = time.monotonic()
                outcomes = await hits(limiter, 5, limit(burst=50))
                elapsed = time.monotonic() - started
                pinged = await limiter.ping()
            finally:
                redis_server.resume()
            after = [await limiter.hit([limit(burst=50)], 1) for _ in range(2)]
            return outcomes, elapsed, pinged, after
        finally:
            await limiter.close()

    before = int(admin(redis_server.port).info("stats")["total_connections_received"])
    outcomes, elapsed, pinged, after = run(scenario)
    assert [str(o) for o in outcomes] == ["redis timed out after 200 ms"] * 5
    assert 0.18 <= elapsed < 1.0
    assert not pinged
    # the timed-out scripts may have run once the server woke up; no stale reply reaches a later call
    assert 43 <= after[0].remaining <= 48
    assert after[1].remaining == after[0].remaining - 1
    assert int(admin(redis_server.port).info("stats")["total_connections_received"]) - before >= 2


def test_a_restarted_redis_is_used_again_without_an_error(run: Run, redis_server: RedisServer) -> None:
    async def scenario() -> list[LimitResult]:
        limiter = RedisLimiter(redis_server.url, timeout_ms=2000)
        try:
            first = await limiter.hit([limit(burst=5)], 1)
            redis_server.restart()  # the loop has not seen the old connection close yet
            return [first, await limiter.hit([limit(burst=5)], 1), await limiter.hit([limit(burst=5)], 1)]
        finally:
            await limiter.close()

    assert [r.remaining for r in run(scenario)] == [4, 4, 3]  # the new server starts empty


def test_a_connection_the_server_kills_is_replaced(run: Run, redis_server: RedisServer) -> None:
    async def scenario() -> list[LimitResult]:
        limiter = RedisLimiter(redis_server.url, timeout_ms=2000)
        try:
            results = [await limiter.hit([limit(burst=5)], 1)]
            for _ in range(2):  # the loop has not seen the kill when the next call is sent
                assert admin(redis_server.port).client_kill_filter(_type="normal", skipme=True) == 1
                results.append(await limiter.hit([limit(burst=5)], 1))
            return results
        finally:
            await limiter.close()

    assert [r.remaining for r in run(scenario)] == [4, 3, 2]  # each charged once


def test_close_closes_the_connection_and_refuses_later_calls(run: Run, redis_server: RedisServer) -> None:
    client_names: list[list[str]] = []

    async def scenario() -> tuple[bool, BaseException | None]:
        limiter = RedisLimiter(redis_server.url + "?client_name=crmgw-limiter", timeout_ms=2000)
        await limiter.hit([limit()], 1)
        client_names.append([c["name"] for c in admin(redis_server.port).client_list()])
        redis_server.pause()
        try:
            waiting = asyncio.ensure_future(limiter.hit([limit()], 1))
            await asyncio.sleep(0.05)  # sent, unanswered
            await limiter.close()
            await asyncio.gather(waiting, return_exceptions=True)
        finally:
            redis_server.resume()
        try:
            await limiter.hit([limit()], 1)
        except LimiterUnavailable as exc:
            return waiting.cancelled(), exc
        return waiting.cancelled(), None

    cancelled, refusal = run(scenario)
    assert cancelled
    assert str(refusal) == "redis limiter closed"
    assert "crmgw-limiter" in client_names[0]
    deadline = time.monotonic() + 2
    while "crmgw-limiter" in [c["name"] for c in admin(redis_server.port).client_list()]:
        assert time.monotonic() < deadline, "the limiter's connection stayed open"
        time.sleep(0.02)


def test_the_python_reader_with_a_real_server(run: Run, redis_server: RedisServer) -> None:
    async def scenario() -> tuple[list[object], object]:
        target = target_from_url(redis_server.url)
        assert target is not None
        direct = DirectScript(target, GCRA_SHA, GCRA_SCRIPT, 2.0, reader=PyReader)
        try:  # a fresh server: NOSCRIPT, then EVAL, for each of the four
            calls = [direct.call(["crmgw:rl:x"], ["1000000.0", 3, 1]) for _ in range(4)]
            replies = await asyncio.gather(*calls)
            return list(replies), await direct.command(b"PING")
        finally:
            await direct.close()

    replies, pong = run(scenario)
    assert [reply[:3] for reply in replies] == [[1, 1, 2], [1, 1, 1], [1, 1, 0], [0, 1, 0]]
    assert pong == b"PONG"
