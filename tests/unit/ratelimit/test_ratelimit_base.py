"""base.gcra is the GCRA arithmetic of the module docstring (the Lua script's, line for line), and
check_request refuses malformed calls with the same messages in the same order."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.ratelimit.base import EPSILON, Limit, check_request, gcra


def reference(interval: float, burst: int, tat: float | None, now: float, cost: int) -> tuple[object, ...]:
    used = max(0.0, (tat - now) / interval) if tat is not None else 0.0
    after = used + cost
    if after <= burst + EPSILON:
        return (
            True,
            now + after * interval,
            max(0, math.floor(burst - after + EPSILON)),
            after * interval,
            0.0,
        )
    return (
        False,
        now + used * interval,
        max(0, math.floor(burst - used + EPSILON)),
        used * interval,
        (after - burst) * interval,
    )


@given(
    interval=st.floats(1e-6, 100.0),
    burst=st.integers(1, 10_000),
    tat=st.none() | st.floats(0.0, 2e6),
    now=st.floats(0.0, 2e6),
    cost=st.integers(1, 20_000),
)
def test_gcra_is_the_documented_arithmetic(
    interval: float, burst: int, tat: float | None, now: float, cost: int
) -> None:
    assert tuple(gcra(interval, burst, tat, now, cost)) == reference(interval, burst, tat, now, cost)


def limit(key: str) -> Limit:
    return Limit(key=key, rate_per_second=1.0, burst=5, name=key)


@pytest.mark.parametrize(
    ("limits", "cost", "message"),
    [
        ([limit("a")], 0, "cost must be at least 1"),
        ([limit("a"), limit("b")], [1], "give one cost"),
        ([limit("a"), limit("b")], [1, 0], "cost must be at least 1"),
        ([limit("a"), limit("a")], 1, "share a key"),
        ([limit("a"), limit("a")], [0, 1], "cost must be at least 1"),
    ],
)
def test_malformed_calls_are_refused(limits: list[Limit], cost: int | list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_request(limits, cost)


def test_costs_per_limit() -> None:
    assert check_request([limit("a"), limit("b")], 2) == [2, 2]
    assert check_request([limit("a"), limit("b")], (1, 3)) == [1, 3]
    assert check_request([], 1) == []
