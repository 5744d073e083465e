"""Upstream protection: a concurrency cap with a bounded wait queue."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gateway.errors import ServiceUnavailable


class ConcurrencyGuard:
    """At most ``limit`` requests in flight; up to ``queue_size`` more wait ``queue_timeout`` seconds."""

    def __init__(self, limit: int | None, queue_size: int = 0, queue_timeout: float = 5.0) -> None:
        self.limit = limit
        self.queue_size = queue_size
        self.queue_timeout = queue_timeout
        self.inflight = 0
        self.queued = 0
        self._free = asyncio.Condition()

    def _refuse(self, reason: str) -> ServiceUnavailable:
        retry = max(1, math.ceil(self.queue_timeout))
        return ServiceUnavailable(
            "the CRM is busy; retry later", reason=reason, headers={"Retry-After": str(retry)}
        )

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self.limit is None:
            self.inflight += 1
            try:
                yield
            finally:
                self.inflight -= 1
            return
        if self.inflight >= self.limit:
            if self.queued >= self.queue_size:
                raise self._refuse("queue-full")
            self.queued += 1
            try:
                async with self._free:
                    await asyncio.wait_for(
                        self._free.wait_for(lambda: self.inflight < (self.limit or 0)), self.queue_timeout
                    )
                    self.inflight += 1
            except TimeoutError:
                raise self._refuse("queue-timeout") from None
            finally:
                self.queued -= 1
        else:
            self.inflight += 1
        try:
            yield
        finally:
            self.inflight -= 1
            async with self._free:
                self._free.notify()
