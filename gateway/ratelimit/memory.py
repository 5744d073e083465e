"""In-process GCRA limiter: exact within one process, bounded in memory."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence

from gateway.clock import Clock
from gateway.ratelimit.base import (
    Cost,
    Limit,
    LimitResult,
    check_request,
    gcra,
    gcra_step,
    most_restrictive,
    unlimited,
)


class MemoryLimiter:
    """GCRA buckets in a dict, keyed by ``Limit.key``.

    ``hit`` never awaits between reading and writing the buckets, so concurrent coroutines on one event loop
    are admitted exactly. Memory stays bounded: a bucket whose TAT has passed is full, i.e. equal to no
    bucket, and is dropped by a sweep every ``sweep_every_s``; beyond ``max_keys`` the least recently
    admitted bucket is dropped (that key then starts again with a full bucket, so size ``max_keys`` above
    the number of principals that are active at the same time).
    """

    def __init__(
        self, *, clock: Clock = time.monotonic, max_keys: int = 100_000, sweep_every_s: float = 10.0
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._clock = clock
        self._max_keys = max_keys
        self._sweep_every_s = sweep_every_s
        self._next_sweep = self._clock() + sweep_every_s
        self._tats: OrderedDict[str, float] = OrderedDict()

    async def hit(self, limits: Sequence[Limit], cost: Cost) -> LimitResult:
        return self.hit_now(limits, cost)

    def hit_now(self, limits: Sequence[Limit], cost: Cost) -> LimitResult:
        """The synchronous core of :meth:`hit`: atomic with respect to the event loop."""
        costs = check_request(limits, cost)
        count = len(costs)
        if not count:
            return unlimited("memory")
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        if count > 2:
            return self._hit_many(limits, costs, now)
        # one or two limits (a gateway-wide and a per-principal one): no lists, verdicts as plain tuples
        tats = self._tats
        first = limits[0]
        ok, tat, left, reset, retry = gcra_step(
            first.interval, first.burst, tats.get(first.key), now, costs[0]
        )
        if count == 1:
            if ok:
                tats[first.key] = tat
                tats.move_to_end(first.key)
                self._bound()
            return LimitResult(ok, first, left, reset, retry, "memory")
        second = limits[1]
        ok2, tat2, left2, reset2, retry2 = gcra_step(
            second.interval, second.burst, tats.get(second.key), now, costs[1]
        )
        if ok and ok2:
            tats[first.key] = tat
            tats.move_to_end(first.key)
            tats[second.key] = tat2
            tats.move_to_end(second.key)
            self._bound()
        # most_restrictive of the two: the refusal with the longer wait, else the fewer left (longer reset)
        if ok:
            second_wins = not ok2 or left2 < left or (left2 == left and reset2 > reset)
        else:
            second_wins = not ok2 and retry2 > retry
        if second_wins:
            return LimitResult(ok2, second, left2, reset2, retry2, "memory")
        return LimitResult(ok, first, left, reset, retry, "memory")

    def _hit_many(self, limits: Sequence[Limit], costs: list[int], now: float) -> LimitResult:
        tats = self._tats
        verdicts = [
            gcra(limit.interval, limit.burst, tats.get(limit.key), now, charge)
            for limit, charge in zip(limits, costs, strict=True)
        ]
        chosen = most_restrictive(verdicts)
        verdict = verdicts[chosen]
        if verdict.allowed:  # the most restrictive refuses whenever any does
            for limit, each in zip(limits, verdicts, strict=True):
                tats[limit.key] = each.new_tat
                tats.move_to_end(limit.key)
            self._bound()
        allowed, _, remaining, reset, retry_after = verdict
        return LimitResult(allowed, limits[chosen], remaining, reset, retry_after, "memory")

    def _bound(self) -> None:
        tats = self._tats
        while len(tats) > self._max_keys:
            tats.popitem(last=False)

    def __len__(self) -> int:
        """How many buckets are held (for tests and metrics)."""
        return len(self._tats)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._tats.clear()

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + self._sweep_every_s
        for key in [key for key, tat in self._tats.items() if tat <= now]:
            del self._tats[key]
