"""JSON access/audit lines, the process logger set-up, and secret redaction.

An ``AccessRecord`` has no field that can hold a token, a header, a query string or a body: secrets
stay out of the access log by construction. ``register_secret`` adds a second line of defence: any
registered value that still shows up in a log line is replaced by ``[REDACTED]``.
"""

from __future__ import annotations

import contextlib
import json as _json
import logging
import math
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, TextIO

from gateway.dialects.base import Operation
from gateway.observability.redact import (
    MIN_SECRET_LENGTH,
    REDACTED,
    SECRETS,
    RedactingFilter,
    forget_secrets,
    redact,
    register_secret,
)

__all__ = [
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "AccessLogger",
    "AccessRecord",
    "RedactingFilter",
    "forget_secrets",
    "redact",
    "register_secret",
    "setup_logging",
]

_MAX_ROUTE: Final = 2048


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


# -- access log ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LimiterOutcome:
    allowed: bool
    remaining: int | None
    backend: str


@dataclass(slots=True)
class AccessRecord:
    """One answered request. ``route`` is the canonical path; a query string in it is cut off."""

    request_id: str
    method: str
    route: str
    status: int
    duration_ms: float
    decision: str
    principal: str | None = None
    issuer: str | None = None
    upstream: str | None = None
    acting_as: str | None = None
    """The CRM identity the request acted as (``contact_id=42``, ``act_as=jdoe``...); never a secret."""
    operations: tuple[str, ...] = ()
    rule: str | None = None
    shadow: tuple[str, ...] = ()
    """Rules of shadow policies that would have denied this request (never enforced)."""
    upstream_ms: float | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    limiter: LimiterOutcome | None = None
    reason: str | None = None
    client_ip: str | None = None
    time: str = field(default_factory=rfc3339_now)

    def __post_init__(self) -> None:
        self.route = self.route.split("?", 1)[0].split("#", 1)[0][:_MAX_ROUTE]


def operation_strings(operations: Iterable[Operation]) -> tuple[str, ...]:
    """``Contact.get`` for the route's own operation, ``Email.get@chain:api.Email.get`` otherwise."""
    return tuple(
        f"{op.entity}.{op.action}" if op.via == "route" else f"{op.entity}.{op.action}@{op.via}"
        for op in operations
    )


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def access_fields(record: AccessRecord) -> dict[str, Any]:
    limiter = record.limiter
    return {
        "time": record.time,
        "request_id": record.request_id,
        "method": record.method,
        "route": record.route,
        "principal": record.principal,
        "issuer": record.issuer,
        "upstream": record.upstream,
        "acting_as": record.acting_as,
        "operations": list(record.operations),
        "decision": record.decision,
        "rule": record.rule,
        "shadow": list(record.shadow),
        "status": record.status,
        "duration_ms": _ms(record.duration_ms),
        "upstream_ms": _ms(record.upstream_ms),
        "bytes_in": record.bytes_in,
        "bytes_out": record.bytes_out,
        "limiter": None
        if limiter is None
        else {"allowed": limiter.allowed, "remaining": limiter.remaining, "backend": limiter.backend},
        "reason": record.reason,
        "client_ip": record.client_ip,
    }


def _redact_values(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redact_values(v) for v in value]
    if isinstance(value, dict):
        return {k: _redact_values(v) for k, v in value.items()}
    return value


_ENCODER: Final = _json.JSONEncoder(separators=(",", ":"), default=str)
_QUOTE: Final[Callable[[str], str]] = _json.encoder.encode_basestring_ascii


def _dumps(fields: dict[str, Any]) -> str:
    return _ENCODER.encode(fields)


class _Unusual(Exception):
    """A field of a type the fast access-line writer does not handle: the generic encoder takes over."""


def _text(value: object) -> str:
    if value is None:
        return "null"
    if type(value) is str:
        return _QUOTE(value)
    raise _Unusual


def _number(value: object) -> str:
    if value is None:
        return "null"
    if type(value) is int:
        return int.__repr__(value)
    if type(value) is float and math.isfinite(value):
        return float.__repr__(value)
    raise _Unusual


def _flag(value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    raise _Unusual


def _fast_line(record: AccessRecord) -> str:
    """Exactly ``_dumps(access_fields(record))`` for the usual field types, without the generic encoder
    (the access line is written once per request); raises _Unusual for anything else."""
    limiter = record.limiter
    if limiter is None:
        limiter_json = "null"
    else:
        limiter_json = (
            f'{{"allowed":{_flag(limiter.allowed)},"remaining":{_number(limiter.remaining)},'
            f'"backend":{_text(limiter.backend)}}}'
        )
    operations = ",".join([_text(op) for op in record.operations])
    shadow = ",".join([_text(rule) for rule in record.shadow])
    return (
        f'{{"time":{_text(record.time)},"request_id":{_text(record.request_id)},'
        f'"method":{_text(record.method)},"route":{_text(record.route)},'
        f'"principal":{_text(record.principal)},"issuer":{_text(record.issuer)},'
        f'"upstream":{_text(record.upstream)},"acting_as":{_text(record.acting_as)},'
        f'"operations":[{operations}],'
        f'"decision":{_text(record.decision)},"rule":{_text(record.rule)},"shadow":[{shadow}],'
        f'"status":{_number(record.status)},'
        f'"duration_ms":{_number(_ms(record.duration_ms))},"upstream_ms":{_number(_ms(record.upstream_ms))},'
        f'"bytes_in":{_number(record.bytes_in)},"bytes_out":{_number(record.bytes_out)},'
        f'"limiter":{limiter_json},"reason":{_text(record.reason)},"client_ip":{_text(record.client_ip)}}}'
    )


def render_access_line(record: AccessRecord) -> str:
    """The record as one compact JSON line (no newline); registered secrets and JWT-shaped strings
    redacted."""
    try:
        line = _fast_line(record)
    except (_Unusual, TypeError):
        line = _dumps(access_fields(record))
    detector = SECRETS.json_pattern
    if "eyJ" in line or (detector is not None and detector.search(line) is not None):
        line = _dumps(_redact_values(access_fields(record)))
    return line


class AccessLogger:
    """Writes one JSON line per request. Never raises: a failed write is swallowed and counted
    (``failures``, and ``on_error`` so metrics can count it too)."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        enabled: bool = True,
        on_error: Callable[[], object] | None = None,
    ) -> None:
        self._stream = stream
        self.enabled = enabled
        self.failures = 0
        self._on_error = on_error

    def log(self, record: AccessRecord) -> None:
        if not self.enabled:
            return
        try:
            stream = self._stream if self._stream is not None else sys.stdout
            stream.write(render_access_line(record) + "\n")
            stream.flush()
        except Exception:
            self.failures += 1
            if self._on_error is not None:
                with contextlib.suppress(Exception):
                    self._on_error()


# -- process logger -----------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message"}`` (+ ``request_id``, ``exc`` when present)."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "time": rfc3339_now(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if isinstance(request_id, str):
            fields["request_id"] = request_id
        if record.exc_info:
            fields["exc"] = record.exc_text or self.formatException(record.exc_info)
        return _dumps(_redact_values(fields))


class RedactingFormatter(logging.Formatter):
    """Plain text lines, with registered secrets redacted (tracebacks included)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(
    level: int | str = "INFO", json: bool = True, *, stream: TextIO | None = None
) -> logging.Handler:
    """Send ``gateway.*`` logs at ``level`` (and other libraries' warnings) to ``stream`` (stderr),
    as JSON lines or plain text, through a RedactingFilter. Calling it again replaces the handler."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(
        JsonFormatter() if json else RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(RedactingFilter())
    handler.set_name("crmgw")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "crmgw"]:
        root.removeHandler(old)
    root.addHandler(handler)
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    root.setLevel(max(numeric, logging.WARNING))
    logging.getLogger("gateway").setLevel(numeric)
    return handler
