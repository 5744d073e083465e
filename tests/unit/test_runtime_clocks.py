"""Durations run on the injected monotonic clock, never on wall time: a wall clock stepped back or forward
(NTP, a VM resume) neither prolongs nor cuts a breaker's cooldown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gateway.app import build_runtime
from gateway.clock import ManualClock
from gateway.config.loader import load_config_text
from gateway.observability.metrics import GatewayMetrics
from gateway.proxy.breaker import HALF_OPEN, OPEN
from gateway.ratelimit.base import Limit
from gateway.runtime import Runtime

CONFIG = """\
identity:
  issuers:
    - issuer: https://idp.test
      audiences: [crm-gateway]
      algorithms: [HS256]
      hs256_secrets: [a-test-secret-that-is-long-enough-0123456789]
upstreams:
  espo:
    dialect: espocrm
    url: http://127.0.0.1:9
    match: {path_prefix: /espo}
    auth: {scheme: espo-apikey}
    breaker: {failures: 1, cooldown_seconds: 30}
"""


@asynccontextmanager
async def runtime_on(config: str) -> AsyncIterator[tuple[Runtime, ManualClock, ManualClock]]:
    """A runtime of ``config`` with hand-driven clocks: (runtime, wall, monotonic)."""
    wall, ticks = ManualClock(2_000_000_000.0), ManualClock(100.0)
    runtime = await build_runtime(
        load_config_text(config, "gateway.yaml"), GatewayMetrics(), wall, monotonic=ticks
    )
    try:
        yield runtime, wall, ticks
    finally:
        await runtime.close()


async def test_the_breaker_cooldown_runs_on_the_monotonic_clock() -> None:
    async with runtime_on(CONFIG) as (runtime, wall, ticks):
        breaker = runtime.upstreams["espo"].breaker
        assert breaker.record("0", 401, probe=False) == "opened"
        wall.advance(3600)  # the wall clock jumps an hour: the cooldown has not run
        assert breaker.state("0") == OPEN
        ticks.advance(30)
        assert breaker.state("0") == HALF_OPEN


LOOKUP_CONFIG = """\
identity:
  issuers:
    - issuer: https://idp.test
      audiences: [crm-gateway]
      algorithms: [HS256]
      hs256_secrets: [a-test-secret-that-is-long-enough-0123456789]
upstreams:
  civi:
    dialect: civicrm
    url: http://127.0.0.1:9
    match: {path_prefix: /civi}
    auth: {scheme: authx-jwt, sign_keys: 'jwt-hs256:hkdf-sha256:abcdefghijkl'}
identities:
  - match: {roles: staff}
    civi: {contact_id: {lookup: {by: email, claim: email}}}
lookups:
  civi: {identity: {contact_id: 5}, ttl_seconds: 120}
"""


async def test_limiter_refills_on_the_monotonic_clock() -> None:
    async with runtime_on(CONFIG) as (runtime, wall, ticks):
        one_per_minute = [Limit(key="k", rate_per_second=1 / 60, burst=1, name="slow")]
        assert (await runtime.limiter.hit(one_per_minute, 1)).allowed
        wall.advance(3600)  # an hour of wall time refills nothing
        assert not (await runtime.limiter.hit(one_per_minute, 1)).allowed
        ticks.advance(60)
        assert (await runtime.limiter.hit(one_per_minute, 1)).allowed


async def test_look_up_answers_expire_on_the_monotonic_clock() -> None:
    fetches: list[int] = []

    async def fetch() -> tuple[str, ...]:
        fetches.append(1)
        return ("42",)

    async with runtime_on(LOOKUP_CONFIG) as (runtime, wall, ticks):
        cache = runtime.people.caches["civi"]
        assert await cache.get("a@example.org", fetch) == ("42",)
        wall.advance(3600)
        assert await cache.get("a@example.org", fetch) == ("42",)
        assert len(fetches) == 1, "a wall-clock jump expired a look-up answer"
        ticks.advance(121)
        await cache.get("a@example.org", fetch)
        assert len(fetches) == 2
