"""Upstream protection: a concurrency cap with a bounded, first-come first-served wait queue."""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

from gateway.errors import ServiceUnavailable

OnChange = Callable[[int, int], None]
"""Told ``(inflight, queued)`` whenever either changes (and only then: every caller of one guard
reports to the same place, so the guard remembers the last pair it told)."""


class ConcurrencyGuard:
    """At most ``limit`` requests in flight; up to ``queue_size`` more wait ``queue_timeout`` seconds.

    A finishing request hands its slot straight to the longest-waiting one, so a newcomer can never
    overtake the queue, and a waiter is never left behind by a lost wake-up. A request refused because
    the queue is full, or that waited too long, gets 503 with ``Retry-After``.
    """

    def __init__(self, limit: int | None, queue_size: int = 0, queue_timeout: float = 5.0) -> None:
        self.limit = limit
        self.queue_size = max(0, queue_size)
        self.queue_timeout = queue_timeout
        self.inflight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._told: tuple[int, int] | None = None

    @property
    def queued(self) -> int:
        return len(self._waiters)

    def _tell(self, notify: OnChange | None) -> None:
        if notify is None:
            return
        now = (self.inflight, len(self._waiters))
        if now != self._told:
            self._told = now
            notify(*now)

    def _refuse(self, reason: str) -> ServiceUnavailable:
        retry = max(1, math.ceil(self.queue_timeout))
        return ServiceUnavailable(
            "the CRM is busy; retry later", reason=reason, headers={"Retry-After": str(retry)}
        )

    @asynccontextmanager
    async def slot(self, on_change: OnChange | None = None) -> AsyncIterator[None]:
        """Hold one slot for the body of the ``async with``; raises ServiceUnavailable when refused."""
        if not self.enter(on_change):
            await self.wait(on_change)
        try:
            yield
        finally:
            self.leave(on_change)

    def enter(self, notify: OnChange | None = None) -> bool:
        """Take a free slot at once (True), or False: the caller must ``wait`` for one. Whoever got a
        slot either way gives it back with ``leave``."""
        if self.limit is None or (self.inflight < self.limit and not self._waiters):
            self.inflight += 1
            self._tell(notify)
            return True
        return False

    def leave(self, notify: OnChange | None = None) -> None:
        self._release()
        self._tell(notify)

    async def wait(self, notify: OnChange | None = None) -> None:
        """Queue for a slot (``enter`` said there is none free); raises ServiceUnavailable when refused."""
        if self.limit is None or (self.inflight < self.limit and not self._waiters):
            self.inflight += 1
            self._tell(notify)
            return
        if len(self._waiters) >= self.queue_size:
            raise self._refuse("queue-full")
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._tell(notify)
        try:
            async with asyncio.timeout(self.queue_timeout):
                await waiter
        except TimeoutError:
            if not _granted(waiter):
                self._forget(waiter)
                self._tell(notify)
                raise self._refuse("queue-timeout") from None
        except asyncio.CancelledError:  # the client went away while waiting
            if _granted(waiter):
                self._release()
            else:
                self._forget(waiter)
            self._tell(notify)
            raise
        self._tell(notify)

    def _release(self) -> None:
        """Hand the slot to the next live waiter, or free it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot changes hands: inflight stays as it is
                return
        self.inflight -= 1

    def _forget(self, waiter: asyncio.Future[None]) -> None:
        with suppress(ValueError):
            self._waiters.remove(waiter)


def _granted(waiter: asyncio.Future[None]) -> bool:
    return waiter.done() and not waiter.cancelled()
