"""What the gateway does while the shared (Redis) limiter is down: allow, deny or limit locally."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Literal, get_args

from gateway.clock import Clock
from gateway.errors import ServiceUnavailable
from gateway.ratelimit.base import Cost, Limit, Limiter, LimiterUnavailable, LimitResult, unlimited

OnError = Literal["allow", "deny", "local"]

log = logging.getLogger("gateway.ratelimit")


class FallbackLimiter:
    """Asks ``primary``; when it raises LimiterUnavailable, answers per ``on_error``:

    - ``allow``: admit (``backend="open"``, no limit applied);
    - ``deny``: raise ServiceUnavailable (503, ``Retry-After: 1``);
    - ``local``: ask ``local`` (a per-process MemoryLimiter), reported as ``backend="fallback"``.

    After a failure the primary is left alone for ``backoff_s``; then the next request probes it (one probe
    at a time, the others keep falling back), and the first success restores shared limiting. How long a
    call may wait is the primary's own timeout. ``on_event`` receives ``"redis_error"`` for every failed
    call, ``"fallback_<mode>"`` for every degraded answer and ``"redis_recovered"`` once per recovery (for
    metrics); the log gets one warning per ``warn_every_s`` at most, however many requests fail.
    """

    def __init__(
        self,
        primary: Limiter,
        local: Limiter,
        on_error: OnError = "local",
        on_event: Callable[[str], None] | None = None,
        *,
        backoff_s: float = 1.0,
        warn_every_s: float = 10.0,
        clock: Clock = time.monotonic,
    ) -> None:
        if on_error not in get_args(OnError):
            raise ValueError(f"on_error must be one of {', '.join(get_args(OnError))}")
        self.on_error: OnError = on_error
        self._primary = primary
        self._local = local
        self._on_event = on_event
        self._backoff_s = backoff_s
        self._warn_every_s = warn_every_s
        self._clock = clock
        self._down = False
        self._probing = False
        self._retry_at = -math.inf
        self._last_warning = -math.inf
        self._failures_since_warning = 0

    @property
    def degraded(self) -> bool:
        """True while the primary is considered down."""
        return self._down

    async def hit(self, limits: Sequence[Limit], cost: Cost) -> LimitResult:
        if self._may_call_primary():
            probe = self._down
            self._probing = self._probing or probe
            try:
                result = await self._primary.hit(limits, cost)
            except LimiterUnavailable as exc:
                self._failed(exc)
            else:
                self._recovered()
                return result
            finally:
                if probe:
                    self._probing = False
        return await self._degraded(limits, cost)

    async def ping(self) -> bool:
        """The primary's health; in ``allow`` and ``local`` mode the gateway still serves without it."""
        return await self._primary.ping() or self.on_error != "deny"

    async def close(self) -> None:
        await self._primary.close()
        await self._local.close()

    def _may_call_primary(self) -> bool:
        return not self._down or (not self._probing and self._clock() >= self._retry_at)

    async def _degraded(self, limits: Sequence[Limit], cost: Cost) -> LimitResult:
        self._emit("fallback_" + self.on_error)
        if self.on_error == "allow":
            return unlimited("open")
        if self.on_error == "deny":
            raise ServiceUnavailable(
                "rate limiter unavailable",
                reason="ratelimit-unavailable",
                headers={"Retry-After": "1"},
            )
        result = await self._local.hit(limits, cost)
        return result._replace(backend="fallback")

    def _failed(self, exc: LimiterUnavailable) -> None:
        now = self._clock()
        self._down = True
        self._retry_at = now + self._backoff_s
        self._emit("redis_error")
        self._failures_since_warning += 1
        if now - self._last_warning >= self._warn_every_s:
            log.warning(
                "rate limiter backend unavailable (%s); on_error=%s; %d failure(s) since the last warning",
                exc,
                self.on_error,
                self._failures_since_warning,
            )
            self._last_warning = now
            self._failures_since_warning = 0

    def _recovered(self) -> None:
        if self._down:
            self._down = False
            self._emit("redis_recovered")
            log.info("rate limiter backend recovered; shared limiting resumed")

    def _emit(self, event: str) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:  # a broken metrics hook must not fail the request
            log.debug("rate limiter on_event hook failed for %s", event, exc_info=True)
