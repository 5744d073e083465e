"""The log budget for refused requests: at most N lines per window, and the next line says how many
were held back."""

from __future__ import annotations

from gateway.observability.throttle import LogThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_at_most_n_lines_per_window_then_the_count_of_those_held_back() -> None:
    clock = Clock()
    throttle = LogThrottle(lines=3, window=10.0, clock=clock)
    assert [throttle.allow() for _ in range(3)] == [(True, 0)] * 3
    assert [throttle.allow() for _ in range(500)] == [(False, 0)] * 500
    clock.now += 9.9
    assert throttle.allow() == (False, 0)
    clock.now += 0.1
    assert throttle.allow() == (True, 501)
    assert throttle.allow() == (True, 0)


def test_a_quiet_window_lets_lines_through_again() -> None:
    clock = Clock()
    throttle = LogThrottle(lines=1, window=1.0, clock=clock)
    for _ in range(5):
        assert throttle.allow() == (True, 0)
        clock.now += 1.0
