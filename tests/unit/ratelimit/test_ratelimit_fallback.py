from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from gateway.clock import ManualClock
from gateway.errors import ServiceUnavailable
from gateway.ratelimit.base import Cost, Limit, LimiterUnavailable, LimitResult
from gateway.ratelimit.fallback import FallbackLimiter, OnError
from gateway.ratelimit.memory import MemoryLimiter

RULE = Limit(key="k", rate_per_second=0.001, burst=3, name="rule")


class SwitchableLimiter:
    """A real MemoryLimiter behind a switch that makes it fail like an unreachable Redis."""

    def __init__(self, clock: ManualClock) -> None:
        self.inner = MemoryLimiter(clock=clock)
        self.up = True
        self.calls = 0

    async def hit(self, limits: Sequence[Limit], cost: Cost) -> LimitResult:
        self.calls += 1
        if not self.up:
            raise LimiterUnavailable("redis failed: ConnectionError")
        return await self.inner.hit(limits, cost)

    async def ping(self) -> bool:
        return self.up

    async def close(self) -> None:
        await self.inner.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def primary(clock: ManualClock) -> SwitchableLimiter:
    return SwitchableLimiter(clock)


def fallback(
    primary: SwitchableLimiter, clock: ManualClock, on_error: OnError, events: list[str]
) -> FallbackLimiter:
    return FallbackLimiter(
        primary,
        MemoryLimiter(clock=clock),
        on_error,
        events.append,
        backoff_s=1.0,
        clock=clock,
    )


async def test_healthy_primary_is_used(primary: SwitchableLimiter, clock: ManualClock) -> None:
    events: list[str] = []
    limiter = fallback(primary, clock, "local", events)
    result = await limiter.hit([RULE], 1)
    assert result.backend == "memory"  # the primary's own answer
    assert events == []


async def test_allow_mode_admits_without_limit(primary: SwitchableLimiter, clock: ManualClock) -> None:
    events: list[str] = []
    limiter = fallback(primary, clock, "allow", events)
    primary.up = False
    results = [await limiter.hit([RULE], 1) for _ in range(10)]
    assert all(r.allowed and r.backend == "open" and r.limit is None for r in results)
    assert events[:2] == ["redis_error", "fallback_allow"]


async def test_deny_mode_raises_service_unavailable(primary: SwitchableLimiter, clock: ManualClock) -> None:
    events: list[str] = []
    limiter = fallback(primary, clock, "deny", events)
    primary.up = False
    with pytest.raises(ServiceUnavailable) as caught:
        await limiter.hit([RULE], 1)
    assert caught.value.status == 503
    assert caught.value.headers == {"Retry-After": "1"}
    assert caught.value.message == "rate limiter unavailable"
    assert events == ["redis_error", "fallback_deny"]


async def test_local_mode_limits_with_the_local_limiter(
    primary: SwitchableLimiter, clock: ManualClock
) -> None:
    events: list[str] = []
    limiter = fallback(primary, clock, "local", events)
    primary.up = False
    results = [await limiter.hit([RULE], 1) for _ in range(5)]
    assert [r.allowed for r in results] == [True, True, True, False, False]
    assert {r.backend for r in results} == {"fallback"}
    assert events.count("fallback_local") == 5


async def test_backoff_then_automatic_recovery(primary: SwitchableLimiter, clock: ManualClock) -> None:
    events: list[str] = []
    limiter = fallback(primary, clock, "local", events)
    primary.up = False
    await limiter.hit([RULE], 1)
    assert limiter.degraded
    await limiter.hit([RULE], 1)
    assert primary.calls == 1  # within the backoff, the primary is not asked again
    primary.up = True
    clock.advance(0.5)
    assert (await limiter.hit([RULE], 1)).backend == "fallback"
    clock.advance(0.5)
    assert (await limiter.hit([RULE], 1)).backend == "memory"
    assert not limiter.degraded
    assert events.count("redis_error") == 1
    assert events.count("redis_recovered") == 1


async def test_warning_is_logged_once_per_interval(
    primary: SwitchableLimiter, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = FallbackLimiter(
        primary, MemoryLimiter(clock=clock), "allow", backoff_s=0.0, warn_every_s=10.0, clock=clock
    )
    primary.up = False
    with caplog.at_level(logging.WARNING, logger="gateway.ratelimit"):
        for _ in range(50):
            await limiter.hit([RULE], 1)
            clock.advance(0.1)
        assert primary.calls == 50  # every request retried the primary (no backoff) ...
        assert len(caplog.records) == 1  # ... but the log got one line
        clock.advance(10.0)
        await limiter.hit([RULE], 1)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "50 failure(s)" in warnings[1].getMessage()


async def test_a_failing_event_hook_does_not_fail_the_request(
    primary: SwitchableLimiter, clock: ManualClock
) -> None:
    def broken(event: str) -> None:
        raise RuntimeError(event)

    limiter = FallbackLimiter(primary, MemoryLimiter(clock=clock), "allow", broken, clock=clock)
    primary.up = False
    assert (await limiter.hit([RULE], 1)).allowed


async def test_programming_errors_are_not_masked(primary: SwitchableLimiter, clock: ManualClock) -> None:
    limiter = fallback(primary, clock, "allow", [])
    with pytest.raises(ValueError, match="cost"):
        await limiter.hit([RULE], 0)


def test_unknown_mode_is_refused(primary: SwitchableLimiter, clock: ManualClock) -> None:
    with pytest.raises(ValueError, match="on_error"):
        FallbackLimiter(primary, MemoryLimiter(clock=clock), "maybe")  # type: ignore[arg-type]


@pytest.mark.parametrize(("on_error", "ready"), [("allow", True), ("local", True), ("deny", False)])
async def test_ping_reports_whether_the_gateway_can_serve(
    primary: SwitchableLimiter, clock: ManualClock, on_error: OnError, ready: bool
) -> None:
    limiter = fallback(primary, clock, on_error, [])
    primary.up = False
    assert await limiter.ping() is ready
