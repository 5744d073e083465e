"""A log line budget per time window, so a client cannot flood the logs with requests it gets wrong."""

from __future__ import annotations

import time
from collections.abc import Callable


class LogThrottle:
    """At most ``lines`` per ``window`` seconds; ``allow()`` also says how many were held back since the
    last line that was let through (to be mentioned in it)."""

    def __init__(self, lines: int = 5, window: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.lines = lines
        self.window = window
        self._clock = clock
        self._window_start = -window
        self._used = 0
        self.suppressed = 0

    def allow(self) -> tuple[bool, int]:
        now = self._clock()
        if now - self._window_start >= self.window:
            self._window_start, self._used = now, 0
        if self._used >= self.lines:
            self.suppressed += 1
            return False, 0
        self._used += 1
        held, self.suppressed = self.suppressed, 0
        return True, held
