"""The rate-limiter contract (Limit, LimitResult, Limiter) and the GCRA arithmetic every backend shares.

GCRA (generic cell rate algorithm) keeps one number per bucket: the *theoretical arrival time* (TAT), the
moment at which the bucket would be full again if nothing else arrived. With the emission interval
``T = 1 / rate`` a request of ``cost`` operations at time ``now`` is admitted when

    max(TAT, now) + cost * T - now <= burst * T

and then the bucket stores ``TAT' = max(TAT, now) + cost * T``. A fresh bucket admits ``burst`` operations at
once and then ``rate`` per second; a request with ``cost > burst`` is never admitted. A refused request
charges nothing. The Lua script in ``redis.py`` is the same arithmetic, line for line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol

Backend = Literal["memory", "redis", "fallback", "open", "closed"]

# Tolerance, in operations, against float rounding (e.g. ten hits of T = 0.1 s summing to 0.9999999999).
EPSILON = 1e-9


Cost = int | Sequence[int]
"""Operations charged: one number for every limit of a request, or one per limit."""


class LimiterUnavailable(Exception):
    """The limiter's backing store failed or timed out. The message is safe to log (no URL, no secret)."""


@dataclass(frozen=True, slots=True)
class Limit:
    """One bucket: ``burst`` operations at once, refilled at ``rate_per_second``.

    ``key`` identifies the bucket (build it with :func:`limit_key`); ``name`` is the rule's name, shown to
    clients in the RateLimit headers.
    """

    key: str
    rate_per_second: float
    burst: int
    name: str

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("a limit needs a non-empty key")
        if not (math.isfinite(self.rate_per_second) and self.rate_per_second > 0):
            raise ValueError(f"limit {self.name!r}: rate_per_second must be a positive finite number")
        if self.burst < 1:
            raise ValueError(f"limit {self.name!r}: burst must be at least 1")

    @property
    def interval(self) -> float:
        """Seconds one operation takes to refill (the GCRA emission interval T)."""
        return 1.0 / self.rate_per_second


class LimitResult(NamedTuple):
    """The answer for one request (a tuple: built per request).

    ``limit`` is the most restrictive of the request's limits: the one that refused (the longest wait if
    several did), else the one with the fewest operations left; ``None`` when no limit applied (no limits,
    or the limiter was unavailable and failed open). ``remaining`` counts operations still admissible now,
    ``reset_seconds`` is the time until that bucket is full again, ``retry_after_seconds`` the wait before
    this same request could be admitted (0 when admitted).
    """

    allowed: bool
    limit: Limit | None
    remaining: int
    reset_seconds: float
    retry_after_seconds: float
    backend: Backend


class Limiter(Protocol):
    async def hit(self, limits: Sequence[Limit], cost: Cost) -> LimitResult:
        """Admit the request only if every limit admits its cost; then charge all of them, else none.

        ``cost`` is the operations charged to each limit: one number for all, or one per limit."""
        ...

    async def close(self) -> None: ...

    async def ping(self) -> bool:
        """True when the backing store answers (for readiness probes)."""
        ...


def limit_key(principal: str, *parts: str) -> str:
    """The bucket key ``{principal}:part:part``.

    The braces are a Redis Cluster hash tag: every key of one principal lands in the same slot, so one
    script can check and charge them atomically. Braces, colons and ``%`` inside the pieces are
    percent-encoded, so distinct inputs never share a key and a principal cannot break out of its tag.
    """
    return "{" + _escape(principal) + "}" + "".join(":" + _escape(part) for part in parts)


def _escape(piece: str) -> str:
    return piece.replace("%", "%25").replace("{", "%7B").replace("}", "%7D").replace(":", "%3A")


def check_request(limits: Sequence[Limit], cost: Cost) -> list[int]:
    """The cost charged to each limit; programming errors are refused before any backend is touched."""
    if isinstance(cost, int):
        if cost < 1:
            raise ValueError("cost must be at least 1")
        costs = [cost] * len(limits)
    else:
        costs = list(cost)
        if len(costs) != len(limits):
            raise ValueError("give one cost, or one cost per limit")
        if costs and min(costs) < 1:
            raise ValueError("cost must be at least 1")
    count = len(limits)
    if count == 2:
        if limits[0].key == limits[1].key:
            raise ValueError("two limits of one request share a key")
    elif count > 2 and len({limit.key for limit in limits}) != count:
        raise ValueError("two limits of one request share a key")
    return costs


def unlimited(backend: Backend) -> LimitResult:
    """The result of a request no limit applies to."""
    return LimitResult(
        allowed=True, limit=None, remaining=0, reset_seconds=0.0, retry_after_seconds=0.0, backend=backend
    )


class Verdict(NamedTuple):
    """One limit's answer, in the time unit of ``now`` and ``tat`` (a tuple: built per limit and request)."""

    allowed: bool
    new_tat: float  # the TAT to store if the whole request is admitted
    remaining: int
    reset: float
    retry_after: float


Step = tuple[bool, float, int, float, float]
"""``Verdict``'s fields as a plain tuple (the memory limiter's one- and two-limit path unpacks it)."""


def gcra_step(interval: float, burst: int, tat: float | None, now: float, cost: int) -> Step:
    """One GCRA step for one bucket; ``tat`` is the stored TAT or ``None`` for a fresh bucket."""
    used = (tat - now) / interval if tat is not None and tat > now else 0.0
    after = used + cost
    if after <= burst + EPSILON:
        left = burst - after + EPSILON
        return True, now + after * interval, math.floor(left) if left > 0 else 0, after * interval, 0.0
    left = burst - used + EPSILON
    return (
        False,
        now + used * interval,
        math.floor(left) if left > 0 else 0,
        used * interval,
        (after - burst) * interval,
    )


def gcra(interval: float, burst: int, tat: float | None, now: float, cost: int) -> Verdict:
    """:func:`gcra_step` as a ``Verdict``."""
    return Verdict(*gcra_step(interval, burst, tat, now, cost))


def most_restrictive(verdicts: Sequence[Verdict]) -> int:
    """Index of the verdict to report: the longest refusal, else the fewest remaining (then longest reset)."""
    best, best_severity = 0, None
    for index, verdict in enumerate(verdicts):
        severity = (
            (0, -verdict.remaining, verdict.reset, -index)
            if verdict.allowed
            else (1, verdict.retry_after, 0.0, -index)
        )
        if best_severity is None or severity > best_severity:
            best, best_severity = index, severity
    return best
