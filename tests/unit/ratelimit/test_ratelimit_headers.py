from __future__ import annotations

import pytest

from gateway.clock import ManualClock
from gateway.ratelimit.base import Limit, LimitResult
from gateway.ratelimit.headers import ratelimit_headers, sf_string
from gateway.ratelimit.memory import MemoryLimiter


def result(
    *,
    allowed: bool = True,
    rate: float = 10.0,
    burst: int = 60,
    name: str = "per-user",
    remaining: int = 59,
    reset: float = 0.1,
    retry: float = 0.0,
) -> LimitResult:
    rule = Limit(key="k", rate_per_second=rate, burst=burst, name=name)
    return LimitResult(
        allowed=allowed,
        limit=rule,
        remaining=remaining,
        reset_seconds=reset,
        retry_after_seconds=retry,
        backend="memory",
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            result(),
            {"RateLimit-Policy": '"per-user";q=60;w=6', "RateLimit": '"per-user";r=59;t=1'},
        ),
        (  # 600/minute with burst 60 refills in 6 s; 10/hour with burst 10 in one hour
            result(rate=10 / 3600, burst=10, name="delete", remaining=3, reset=2520.0),
            {"RateLimit-Policy": '"delete";q=10;w=3600', "RateLimit": '"delete";r=3;t=2520'},
        ),
        (  # a window that is not a whole number of seconds is rounded up (advertised rate <= real)
            result(rate=3.0, burst=5, remaining=4, reset=1 / 3),
            {"RateLimit-Policy": '"per-user";q=5;w=2', "RateLimit": '"per-user";r=4;t=1'},
        ),
        (  # a bucket that is full again right now
            result(rate=1.0, burst=5, remaining=5, reset=0.0),
            {"RateLimit-Policy": '"per-user";q=5;w=5', "RateLimit": '"per-user";r=5;t=0'},
        ),
        (
            result(allowed=False, remaining=0, reset=6.0, retry=0.1),
            {
                "RateLimit-Policy": '"per-user";q=60;w=6',
                "RateLimit": '"per-user";r=0;t=6',
                "Retry-After": "1",
            },
        ),
        (
            result(allowed=False, rate=0.5, burst=2, remaining=0, reset=4.0, retry=2.0000000001),
            {"RateLimit-Policy": '"per-user";q=2;w=4', "RateLimit": '"per-user";r=0;t=4', "Retry-After": "2"},
        ),
    ],
)
def test_headers_follow_the_named_policy_draft_form(given: LimitResult, expected: dict[str, str]) -> None:
    assert ratelimit_headers(given) == expected


def test_no_limit_means_no_headers() -> None:
    unlimited = LimitResult(
        allowed=True, limit=None, remaining=0, reset_seconds=0.0, retry_after_seconds=0.0, backend="open"
    )
    assert ratelimit_headers(unlimited) == {}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("tab\there", '"tab?here"'),
        ("café", '"caf?"'),
    ],
)
def test_policy_name_is_a_valid_sf_string(name: str, expected: str) -> None:
    assert sf_string(name) == expected


async def test_headers_from_a_real_refusal() -> None:
    clock = ManualClock()
    limiter = MemoryLimiter(clock=clock)
    rule = Limit(key="k", rate_per_second=0.5, burst=2, name="slow")
    await limiter.hit([rule], 2)
    clock.advance(0.5)
    headers = ratelimit_headers(await limiter.hit([rule], 1))
    assert headers == {
        "RateLimit-Policy": '"slow";q=2;w=4',
        "RateLimit": '"slow";r=0;t=4',  # 3.5 s to full, rounded up
        "Retry-After": "2",  # 1.5 s until one operation is back, rounded up
    }
