"""RateLimit response headers, IETF httpapi draft form.

Follows draft-ietf-httpapi-ratelimit-headers-10 (the syntax is unchanged in -11 and first appeared in -08):
both fields are Structured-Field Lists of Items whose value is the policy name as an sf-string, e.g.

    RateLimit-Policy: "per-user";q=60;w=6
    RateLimit: "per-user";r=59;t=1

Earlier drafts used other shapes that clients cannot parse interchangeably (-07: a ``RateLimit`` dictionary
``limit=, remaining=, reset=``; -06 and older: separate ``RateLimit-Limit``/``-Remaining``/``-Reset``).
The named-policy form was chosen because it is the working group's current one and lets a client tell
several of our rules apart.

For a GCRA bucket: ``q`` is the burst, ``w`` the seconds a drained bucket takes to refill (rounded up, so
the advertised rate never exceeds the real one), ``r`` the operations still admissible now and ``t`` the
seconds until the bucket is full again (rounded up). A refusal adds ``Retry-After`` (delay-seconds, at
least 1, as some clients retry a 429 only when it is present).
"""

from __future__ import annotations

import math
from functools import lru_cache

from gateway.ratelimit.base import Limit, LimitResult

VALUES_KEPT = 4096
"""RateLimit-Policy and RateLimit values remembered by (limit, remaining, reset): then it starts again."""

_values: dict[tuple[Limit, int, int], tuple[str, str]] = {}


def ratelimit_headers(result: LimitResult) -> dict[str, str]:
    limit = result.limit
    if limit is None:
        headers: dict[str, str] = {}
    else:
        key = (limit, result.remaining, math.ceil(result.reset_seconds - 1e-9))
        values = _values.get(key)
        if values is None:
            values = _values[key] = _rendered(*key)
            if len(_values) > VALUES_KEPT:
                _values.clear()
        headers = {"RateLimit-Policy": values[0], "RateLimit": values[1]}
    if not result.allowed:
        headers["Retry-After"] = str(max(1, ceil_seconds(result.retry_after_seconds)))
    return headers


def _rendered(limit: Limit, remaining: int, reset: int) -> tuple[str, str]:
    name, policy = _policy(limit)
    return policy, f"{name};r={max(0, remaining)};t={max(0, reset)}"


@lru_cache(maxsize=1024)
def _policy(limit: Limit) -> tuple[str, str]:
    """The limit's sf-string name and its whole RateLimit-Policy value: fixed by the limit."""
    name = sf_string(limit.name)
    return name, f"{name};q={limit.burst};w={window_seconds(limit)}"


def window_seconds(limit: Limit) -> int:
    return max(1, ceil_seconds(limit.burst / limit.rate_per_second))


def ceil_seconds(seconds: float) -> int:
    """Whole seconds rounded up, ignoring float noise below a nanosecond."""
    return max(0, math.ceil(seconds - 1e-9))


def sf_string(text: str) -> str:
    """An RFC 8941 sf-string: printable ASCII only (anything else becomes ``?``), ``"`` and ``\\`` escaped."""
    printable = "".join(char if " " <= char <= "~" else "?" for char in text)
    return '"' + printable.replace("\\", "\\\\").replace('"', '\\"') + '"'
