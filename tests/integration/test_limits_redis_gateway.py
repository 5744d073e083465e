"""Two gateway instances sharing one real redis-server: exact shared limits, Redis dying, hanging and
coming back, in each on_error mode, observed through the gateways' answers, metrics and logs."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.keys import METRICS
from tests.support.redis_server import RedisServer, redis_server, redis_server_binary
from tests.support.stack import Stack, metric_value, start_stack

__all__ = ["redis_server"]  # the fixture, imported for pytest

pytestmark = pytest.mark.skipif(redis_server_binary() is None, reason="redis-server not installed")

LEAD = "/espo-key/api/v1/Lead"
TIMEOUT_MS = 250
BOUND_S = TIMEOUT_MS / 1000 + 0.5  # no request may take much longer than the limiter's timeout
# A killed Redis refuses at once; a generous timeout keeps a busy test machine from looking like an outage
KILLED_TIMEOUT_MS = 1000
KILLED_BOUND_S = KILLED_TIMEOUT_MS / 1000 + 0.5
BACKOFF_S = 1.0  # FallbackLimiter's default: a failed Redis is left alone this long


@dataclass(eq=False)
class Gateway:
    client: TestClient[web.Request, web.Application]
    app: web.Application

    def metric(self, name: str, **labels: str) -> float:
        return metric_value(self.app[METRICS].render()[0].decode(), name, **labels)


async def two_gateways(
    aiohttp_server: Any,
    aiohttp_client: Any,
    tmp_path: Path,
    redis: RedisServer,
    *,
    rule: str,
    on_error: str = "local",
    timeout_ms: int = TIMEOUT_MS,
) -> tuple[Stack, Gateway, Gateway]:
    ratelimit = (
        f"ratelimit: {{backend: redis, url: '{redis.url}', on_error: {on_error}, timeout_ms: {timeout_ms}, "
        f"limits: [{rule}]}}"
    )
    stack = await start_stack(aiohttp_server, aiohttp_client, tmp_path, ratelimit=ratelimit)
    second = build_app(stack.config)
    second_client = await aiohttp_client(await aiohttp_server(second, access_log=None))
    return stack, Gateway(stack.client, stack.app), Gateway(second_client, second)


async def timed_get(
    gateway: Gateway, stack: Stack, bound: float = BOUND_S
) -> tuple[int, dict[str, str], str]:
    started = time.monotonic()
    resp = await gateway.client.get(LEAD, headers=stack.bearer())
    body = await resp.text()
    elapsed = time.monotonic() - started
    assert elapsed < bound, f"a request took {elapsed:.3f} s"
    return resp.status, dict(resp.headers), body


async def test_200_concurrent_requests_on_two_instances_admit_exactly_the_limit(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, redis_server: RedisServer
) -> None:
    stack, first, second = await two_gateways(
        aiohttp_server,
        aiohttp_client,
        tmp_path,
        redis_server,
        rule="{rate: 50/hour, name: shared}",
        timeout_ms=5000,
    )

    async def one(index: int) -> int:
        gateway = first if index % 2 else second
        resp = await gateway.client.get(LEAD, headers=stack.bearer())
        await resp.read()
        return resp.status

    outcomes = Counter(await asyncio.gather(*(one(i) for i in range(200))))
    assert outcomes == {200: 50, 429: 150}
    assert len(stack.espo_received) == 50
    for gateway in (first, second):
        assert gateway.metric("crmgw_redis_errors_total") == 0
        assert gateway.metric("crmgw_ratelimited_total", upstream="espo-key", rule="gateway:shared") > 0
    total = sum(
        g.metric("crmgw_ratelimited_total", upstream="espo-key", rule="gateway:shared")
        for g in (first, second)
    )
    assert total == 150


def refused_in_espo_dialect(status: int, headers: dict[str, str], body: str) -> None:
    assert status == 503
    assert headers["Retry-After"] == "1"
    assert headers["X-Status-Reason"]
    assert json.loads(body)["reason"] == "ratelimit-unavailable"


@pytest.mark.parametrize("on_error", ["allow", "deny", "local"])
async def test_redis_killed_mid_run_then_restarted(
    aiohttp_server: Any,
    aiohttp_client: Any,
    tmp_path: Path,
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
    on_error: str,
) -> None:
    stack, first, second = await two_gateways(
        aiohttp_server,
        aiohttp_client,
        tmp_path,
        redis_server,
        rule="{rate: 4/hour, name: shared}",
        on_error=on_error,
        timeout_ms=KILLED_TIMEOUT_MS,
    )
    caplog.set_level(logging.DEBUG)
    # healthy: the two instances draw on one bucket
    healthy = [await timed_get(g, stack, KILLED_BOUND_S) for g in (first, second, first)]
    assert [s for s, _, _ in healthy] == [200, 200, 200]
    assert [h["RateLimit"] for _, h, _ in healthy] == [
        f'"gateway:shared";r={r};t={t}' for r, t in [(3, 900), (2, 1800), (1, 2700)]
    ]

    redis_server.stop()
    forwarded = len(stack.espo_received)
    down = {g: [await timed_get(g, stack, KILLED_BOUND_S) for _ in range(6)] for g in (first, second)}
    statuses = {g: [s for s, _, _ in answers] for g, answers in down.items()}
    if on_error == "allow":
        assert statuses == {first: [200] * 6, second: [200] * 6}
        assert all("RateLimit" not in h for answers in down.values() for _, h, _ in answers)
    elif on_error == "deny":
        assert statuses == {first: [503] * 6, second: [503] * 6}
        for answers in down.values():
            for answer in answers:
                refused_in_espo_dialect(*answer)
    else:  # each instance enforces the limit on its own, from a full local bucket
        assert statuses == {first: [200] * 4 + [429] * 2, second: [200] * 4 + [429] * 2}
    assert len(stack.espo_received) - forwarded == sum(s.count(200) for s in statuses.values())
    for gateway in (first, second):
        assert gateway.metric("crmgw_redis_errors_total") >= 1
        assert gateway.metric("crmgw_limiter_fallbacks_total", mode=on_error) == 6
    warnings = [r for r in caplog.records if r.name == "gateway.ratelimit" and r.levelno == logging.WARNING]
    assert len(warnings) == 2  # one per instance, not one per request
    assert all(redis_server.url not in r.getMessage() for r in warnings)

    redis_server.restart()  # empty: the shared bucket starts full again
    await asyncio.sleep(BACKOFF_S + 0.05)
    resumed = [await timed_get(g, stack, KILLED_BOUND_S) for g in (first, second) * 3]
    assert [s for s, _, _ in resumed] == [200] * 4 + [429] * 2
    assert resumed[0][1]["RateLimit"] == '"gateway:shared";r=3;t=900'
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_hung_redis_costs_each_request_at_most_the_timeout_and_one_warning(
    aiohttp_server: Any,
    aiohttp_client: Any,
    tmp_path: Path,
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stack, first, _ = await two_gateways(
        aiohttp_server, aiohttp_client, tmp_path, redis_server, rule="{rate: 100/hour, name: shared}"
    )
    assert (await timed_get(first, stack))[0] == 200
    caplog.set_level(logging.WARNING, logger="gateway.ratelimit")
    redis_server.pause()
    try:
        started = time.monotonic()
        answers = await asyncio.gather(*(timed_get(first, stack) for _ in range(5)))
        elapsed = time.monotonic() - started
    finally:
        redis_server.resume()
    assert [s for s, _, _ in answers] == [200] * 5  # local fallback, fresh bucket
    assert elapsed < BOUND_S
    # all five were already waiting on Redis when it failed: five errors, one warning
    assert first.metric("crmgw_redis_errors_total") == 5
    assert first.metric("crmgw_limiter_fallbacks_total", mode="local") == 5
    warnings = [r for r in caplog.records if r.name == "gateway.ratelimit" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "timed out" in warnings[0].getMessage()
