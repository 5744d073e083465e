"""The two clocks, injected wherever time is read (docs/architecture.md#clocks).

- **monotonic** (``time.monotonic`` in production): every duration, TTL, cooldown and refill. It never goes
  backwards, so a wall-clock step (NTP, DST, an operator's ``date``) cannot stretch or cut one.
- **wall** (``time.time``): only where a time is compared with a timestamp that means a date: a token's
  ``exp``/``iat``, a minted CRM credential, a revocation's expiry shared with other replicas.

Both are plain ``Callable[[], float]``; tests pass a ``ManualClock``.
"""

from __future__ import annotations

from collections.abc import Callable

Clock = Callable[[], float]
"""Seconds. Only differences are meaningful for a monotonic one."""


class ManualClock:
    """A clock that moves only when told to: exact, repeatable timing in tests."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a monotonic clock cannot go backwards")
        self._now += seconds

    def set(self, now: float) -> None:
        if now < self._now:
            raise ValueError("a monotonic clock cannot go backwards")
        self._now = now
