"""What every JSON log line shares: the RFC 3339 timestamp, the compact encoder, value redaction."""

from __future__ import annotations

import json
import math
import time
from typing import Any, Final

from gateway.observability.redact import redact


class _SecondStamp:
    """The ``%Y-%m-%dT%H:%M:%S`` part of the last second formatted: one strftime per second, not per line.
    The (second, text) pair is replaced as one tuple, so a thread never reads one without the other."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last: tuple[int, str] | None = None

    def format(self, t: float) -> str:
        second = math.floor(t)
        last = self.last
        if last is None or last[0] != second:
            last = self.last = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        return last[1]


_STAMP = _SecondStamp()


def rfc3339_now(now: float | None = None) -> str:
    """``2024-05-01T12:00:00.123Z``: UTC, millisecond precision."""
    t = time.time() if now is None else now
    return _STAMP.format(t) + f".{int(t * 1000) % 1000:03d}Z"


_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), default=str)


def dumps(fields: dict[str, Any]) -> str:
    """``fields`` as one compact JSON line (no newline)."""
    return _ENCODER.encode(fields)


def redact_values(value: Any) -> Any:
    """``value`` with registered secrets redacted in every string it holds (lists and dicts walked)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_values(v) for v in value]
    if isinstance(value, dict):
        return {k: redact_values(v) for k, v in value.items()}
    return value
