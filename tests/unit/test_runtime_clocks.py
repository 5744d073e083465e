"""Durations run on the injected monotonic clock, never on wall time: a wall clock stepped back or forward
(NTP, a VM resume) neither prolongs nor cuts a breaker's cooldown."""

from __future__ import annotations

from gateway.app import build_runtime
from gateway.config.loader import load_config_text
from gateway.observability.metrics import GatewayMetrics
from gateway.proxy.breaker import HALF_OPEN, OPEN

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
