"""Injectable clocks: the system's monotonic clock in production, a hand-driven one in tests."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a clock that never goes backwards (the origin is arbitrary)."""
        ...


class SystemClock:
    """``time.monotonic``: immune to wall-clock steps (NTP, DST), only differences are meaningful."""

    def now(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to: exact, repeatable timing in tests."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a monotonic clock cannot go backwards")
        self._now += seconds

    def set(self, now: float) -> None:
        if now < self._now:
            raise ValueError("a monotonic clock cannot go backwards")
        self._now = now
