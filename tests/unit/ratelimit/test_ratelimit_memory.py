from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.clock import ManualClock
from gateway.ratelimit.base import Limit, limit_key
from gateway.ratelimit.memory import MemoryLimiter


def limit(key: str = "k", rate: float = 1.0, burst: int = 5, name: str = "rule") -> Limit:
    return Limit(key=key, rate_per_second=rate, burst=burst, name=name)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1000.0)


@pytest.fixture
def limiter(clock: ManualClock) -> MemoryLimiter:
    return MemoryLimiter(clock=clock)


async def test_fresh_bucket_admits_exactly_burst_then_refuses(limiter: MemoryLimiter) -> None:
    results = [await limiter.hit([limit()], 1) for _ in range(7)]
    assert [r.allowed for r in results] == [True] * 5 + [False] * 2
    assert [r.remaining for r in results] == [4, 3, 2, 1, 0, 0, 0]
    assert all(r.backend == "memory" for r in results)
    assert results[5].retry_after_seconds == pytest.approx(1.0)
    assert results[5].reset_seconds == pytest.approx(5.0)
    assert results[4].retry_after_seconds == 0.0


async def test_one_operation_refills_per_interval(limiter: MemoryLimiter, clock: ManualClock) -> None:
    rule = limit(rate=4.0, burst=2)  # one operation per 0.25 s
    assert [(await limiter.hit([rule], 1)).allowed for _ in range(3)] == [True, True, False]
    clock.advance(0.2)
    refused = await limiter.hit([rule], 1)
    assert not refused.allowed
    assert refused.retry_after_seconds == pytest.approx(0.05)
    clock.advance(0.05)
    assert (await limiter.hit([rule], 1)).allowed
    assert not (await limiter.hit([rule], 1)).allowed
    clock.advance(0.5)  # a full refill, and no more: idle time does not bank beyond the burst
    assert [(await limiter.hit([rule], 1)).allowed for _ in range(3)] == [True, True, False]


async def test_sustained_rate_matches_configured_rate(limiter: MemoryLimiter, clock: ManualClock) -> None:
    rule = limit(rate=10.0, burst=1)
    admitted = 0
    for _ in range(1000):  # 10 s of attempts every 10 ms
        admitted += (await limiter.hit([rule], 1)).allowed
        clock.advance(0.01)
    assert admitted == 100


@pytest.mark.parametrize(
    ("costs", "expected"),
    [
        ([3, 2], [True, True]),
        ([3, 3], [True, False]),
        ([5], [True]),
        ([6], [False]),  # cost above burst: never admitted
        ([4, 2, 1], [True, False, True]),  # a refused request charges nothing
    ],
)
async def test_cost_counts_operations(limiter: MemoryLimiter, costs: list[int], expected: list[bool]) -> None:
    assert [(await limiter.hit([limit()], cost)).allowed for cost in costs] == expected


async def test_cost_above_burst_is_refused_even_after_long_idle(
    limiter: MemoryLimiter, clock: ManualClock
) -> None:
    clock.advance(10_000)
    result = await limiter.hit([limit(burst=5)], 6)
    assert not result.allowed
    assert result.remaining == 5
    assert result.retry_after_seconds > 0


async def test_cost_refusal_reports_wait_for_the_missing_operations(
    limiter: MemoryLimiter, clock: ManualClock
) -> None:
    rule = limit(rate=2.0, burst=5)
    assert (await limiter.hit([rule], 4)).allowed
    refused = await limiter.hit([rule], 3)
    assert not refused.allowed
    assert refused.remaining == 1
    assert refused.retry_after_seconds == pytest.approx(1.0)  # two operations at 0.5 s each
    clock.advance(1.0)
    assert (await limiter.hit([rule], 3)).allowed


async def test_all_or_nothing_across_limits(limiter: MemoryLimiter) -> None:
    wide = limit("wide", burst=10, name="wide")
    narrow = limit("narrow", burst=2, name="narrow")
    outcomes = [await limiter.hit([wide, narrow], 1) for _ in range(3)]
    assert [o.allowed for o in outcomes] == [True, True, False]
    assert outcomes[2].limit == narrow
    # the refused third request did not charge "wide": 10 - 2 charged - this one = 7
    alone = await limiter.hit([wide], 1)
    assert alone.remaining == 7


async def test_result_reports_the_most_restrictive_limit(limiter: MemoryLimiter) -> None:
    per_user = limit("u", burst=10, name="per-user")
    per_action = limit("a", burst=3, name="per-action")
    admitted = await limiter.hit([per_user, per_action], 1)
    assert admitted.allowed
    assert admitted.limit == per_action
    assert admitted.remaining == 2


async def test_refusal_reports_the_limit_with_the_longest_wait(limiter: MemoryLimiter) -> None:
    fast = limit("fast", rate=10.0, burst=1, name="fast")
    slow = limit("slow", rate=0.1, burst=1, name="slow")
    assert (await limiter.hit([fast, slow], 1)).allowed
    refused = await limiter.hit([fast, slow], 1)
    assert not refused.allowed
    assert refused.limit == slow
    assert refused.retry_after_seconds == pytest.approx(10.0)


async def test_no_limits_is_unlimited(limiter: MemoryLimiter) -> None:
    result = await limiter.hit([], 1)
    assert result.allowed
    assert result.limit is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate_per_second": 0.0}, "rate_per_second"),
        ({"rate_per_second": float("inf")}, "rate_per_second"),
        ({"rate_per_second": -1.0}, "rate_per_second"),
        ({"burst": 0}, "burst"),
        ({"key": ""}, "key"),
    ],
)
def test_invalid_limit_is_refused(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"key": "k", "rate_per_second": 1.0, "burst": 1, "name": "r"} | kwargs
    with pytest.raises(ValueError, match=message):
        Limit(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("cost", [0, -1])
async def test_cost_below_one_is_a_programming_error(limiter: MemoryLimiter, cost: int) -> None:
    with pytest.raises(ValueError, match="cost"):
        await limiter.hit([limit()], cost)


async def test_duplicate_keys_in_one_request_are_refused(limiter: MemoryLimiter) -> None:
    with pytest.raises(ValueError, match="share a key"):
        await limiter.hit([limit("same", name="a"), limit("same", name="b")], 1)


async def test_key_count_is_capped_least_recently_used_first(clock: ManualClock) -> None:
    limiter = MemoryLimiter(clock=clock, max_keys=3)
    for key in ["a", "b", "c"]:
        await limiter.hit([limit(key, burst=1, rate=0.001)], 1)
    await limiter.hit([limit("a", burst=2, rate=0.001)], 1)  # touch "a": now most recently used
    await limiter.hit([limit("d", burst=1, rate=0.001)], 1)  # evicts "b", the least recently used
    assert len(limiter) == 3
    assert (await limiter.hit([limit("b", burst=1, rate=0.001)], 1)).allowed  # fresh bucket again
    assert not (await limiter.hit([limit("a", burst=2, rate=0.001)], 1)).allowed  # state kept


async def test_the_cap_keeps_the_most_recent_keys_of_a_request_charging_several(clock: ManualClock) -> None:
    limiter = MemoryLimiter(clock=clock, max_keys=2)
    await limiter.hit([limit("a", burst=1, rate=0.001)], 1)
    both = [limit("b", burst=2, rate=0.001), limit("c", burst=2, rate=0.001)]
    assert (await limiter.hit(both, 1)).allowed  # "a", the least recently used, goes
    assert len(limiter) == 2
    assert (await limiter.hit([limit("a", burst=1, rate=0.001)], 1)).allowed  # fresh bucket again
    assert len(limiter) == 2  # and "b" went for it; "c" stays charged
    assert (await limiter.hit([limit("c", burst=2, rate=0.001)], 1)).allowed
    assert not (await limiter.hit([limit("c", burst=2, rate=0.001)], 1)).allowed


async def test_cap_holds_under_many_distinct_keys(clock: ManualClock) -> None:
    limiter = MemoryLimiter(clock=clock, max_keys=100)
    for index in range(5000):
        await limiter.hit([limit(f"k{index}", rate=0.001)], 1)
    assert len(limiter) == 100


async def test_full_buckets_are_swept(clock: ManualClock) -> None:
    limiter = MemoryLimiter(clock=clock, sweep_every_s=10.0)
    for index in range(50):
        await limiter.hit([limit(f"k{index}", rate=1.0, burst=5)], 1)  # full again after 1 s
    await limiter.hit([limit("long", rate=0.01, burst=5)], 1)  # full again after 100 s
    clock.advance(11.0)
    await limiter.hit([limit("fresh", rate=1.0, burst=5)], 1)
    assert len(limiter) == 2  # "long" and "fresh" survive


async def test_concurrent_coroutines_admit_exactly_burst(limiter: MemoryLimiter) -> None:
    rule = limit(rate=0.001, burst=50)

    async def attempt() -> bool:
        await asyncio.sleep(0)
        return (await limiter.hit([rule], 1)).allowed

    outcomes = await asyncio.gather(*(attempt() for _ in range(200)))
    assert sum(outcomes) == 50


@pytest.mark.parametrize(
    ("principal", "parts", "expected"),
    [
        ("svc-newsletter", ("civi", "Contact", "get"), "{svc-newsletter}:civi:Contact:get"),
        ("a}b", ("x",), "{a%7Db}:x"),
        ("a:b", ("c",), "{a%3Ab}:c"),
        ("a", ("b:c",), "{a}:b%3Ac"),
        ("100%", (), "{100%25}"),
    ],
)
def test_limit_key_is_an_injective_hash_tagged_key(
    principal: str, parts: tuple[str, ...], expected: str
) -> None:
    assert limit_key(principal, *parts) == expected


def test_limit_key_separates_what_naive_joining_would_merge() -> None:
    assert limit_key("a", "b:c") != limit_key("a", "b", "c")
    assert limit_key("a:b", "c") != limit_key("a", "b", "c")


@settings(max_examples=60, deadline=None)
@given(
    rate=st.sampled_from([0.5, 1.0, 3.0, 10.0]),
    burst=st.integers(min_value=1, max_value=20),
    steps=st.lists(
        st.tuples(st.floats(min_value=0.0, max_value=2.0), st.integers(min_value=1, max_value=5)), max_size=80
    ),
)
def test_never_admits_more_than_burst_plus_refill(
    rate: float, burst: int, steps: list[tuple[float, int]]
) -> None:
    clock = ManualClock(0.0)
    limiter = MemoryLimiter(clock=clock)
    rule = limit(rate=rate, burst=burst)
    admitted = 0
    for gap, cost in steps:
        clock.advance(gap)
        if limiter.hit_now([rule], cost).allowed:
            admitted += cost
    assert admitted <= burst + rate * clock() + 1e-6
