"""Durations run on the injected monotonic clock, never on wall time: a wall clock stepped back or forward
(NTP, a VM resume) neither prolongs nor cuts a breaker's cooldown."""

from __future__ import annotations

from gateway.app import build_runtime
from gateway.config.loader import load_config_text
from gateway.observability.metrics import GatewayMetrics
from gateway.proxy.breaker import HALF_OPEN, OPEN
from gateway.ratelimit.base import Limit

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


async def test_the_breaker_cooldown_runs_on_the_monotonic_clock() -> None:
    wall = {"now": 2_000_000_000.0}
    ticks = {"now": 100.0}
    runtime = await build_runtime(
        load_config_text(CONFIG, "gateway.yaml"),
        GatewayMetrics(),
        lambda: wall["now"],
        monotonic=lambda: ticks["now"],
    )
    try:
        breaker = runtime.upstreams["espo"].breaker
        assert breaker.record("0", 401, probe=False) == "opened"
        wall["now"] += 3600  # the wall clock jumps an hour: the cooldown has not run
        assert breaker.state("0") == OPEN
        ticks["now"] += 30
        assert breaker.state("0") == HALF_OPEN
    finally:
        await runtime.close()


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
    wall = {"now": 2_000_000_000.0}
    ticks = {"now": 100.0}
    runtime = await build_runtime(
        load_config_text(CONFIG, "gateway.yaml"),
        GatewayMetrics(),
        lambda: wall["now"],
        monotonic=lambda: ticks["now"],
    )
    try:
        one_per_minute = [Limit(key="k", rate_per_second=1 / 60, burst=1, name="slow")]
        assert (await runtime.limiter.hit(one_per_minute, 1)).allowed
        wall["now"] += 3600  # an hour of wall time refills nothing
        assert not (await runtime.limiter.hit(one_per_minute, 1)).allowed
        ticks["now"] += 60
        assert (await runtime.limiter.hit(one_per_minute, 1)).allowed
    finally:
        await runtime.close()


async def test_look_up_answers_expire_on_the_monotonic_clock() -> None:
    wall = {"now": 2_000_000_000.0}
    ticks = {"now": 100.0}
    runtime = await build_runtime(
        load_config_text(LOOKUP_CONFIG, "gateway.yaml"),
        GatewayMetrics(),
        lambda: wall["now"],
        monotonic=lambda: ticks["now"],
    )
    fetches: list[int] = []

    async def fetch() -> tuple[str, ...]:
        fetches.append(1)
        return ("42",)

    try:
        cache = runtime.people.caches["civi"]
        assert await cache.get("a@example.org", fetch) == ("42",)
        wall["now"] += 3600
        assert await cache.get("a@example.org", fetch) == ("42",)
        assert len(fetches) == 1, "a wall-clock jump expired a look-up answer"
        ticks["now"] += 121
        await cache.get("a@example.org", fetch)
        assert len(fetches) == 2
    finally:
        await runtime.close()
