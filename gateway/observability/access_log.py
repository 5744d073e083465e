"""The access log: one JSON line per answered request.

An ``AccessRecord`` has no field that can hold a token, a header, a query string or a body: secrets
stay out of the access log by construction. Registered secrets (``redact.register_secret``) that still
show up in a line are replaced by ``[REDACTED]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from operator import attrgetter
from typing import Any, Final, TextIO

from gateway.dialects.base import Operation
from gateway.observability.access_json import clean_route, fast_line, rounded_ms
from gateway.observability.jsonlines import dumps, redact_values, rfc3339_now
from gateway.observability.redact import SECRETS


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
        self.route = clean_route(self.route)


def operation_strings(operations: Iterable[Operation]) -> tuple[str, ...]:
    """``Contact.get`` for the route's own operation, ``Email.get@chain:api.Email.get`` otherwise."""
    return tuple(
        f"{op.entity}.{op.action}" if op.via == "route" else f"{op.entity}.{op.action}@{op.via}"
        for op in operations
    )


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
        "duration_ms": rounded_ms(record.duration_ms),
        "upstream_ms": rounded_ms(record.upstream_ms),
        "bytes_in": record.bytes_in,
        "bytes_out": record.bytes_out,
        "limiter": None
        if limiter is None
        else {"allowed": limiter.allowed, "remaining": limiter.remaining, "backend": limiter.backend},
        "reason": record.reason,
        "client_ip": record.client_ip,
    }


_FIELDS: Final = attrgetter(
    *("time", "request_id", "method", "route", "principal", "issuer", "upstream", "acting_as", "operations"),
    *("decision", "rule", "shadow", "status", "duration_ms", "upstream_ms", "bytes_in", "bytes_out"),
    *("limiter", "reason", "client_ip"),
)
"""A record's fields in ``fast_line``'s order."""


def needs_redaction(line: str) -> bool:
    """A JWT-shaped string or a registered secret shows in the line."""
    return "eyJ" in line or SECRETS.in_json(line)


def render_access_line(record: AccessRecord) -> str:
    """The record as one compact JSON line (no newline); registered secrets and JWT-shaped strings
    redacted."""
    try:
        line = fast_line(*_FIELDS(record))
    except TypeError:
        line = dumps(access_fields(record))
    if needs_redaction(line):
        line = dumps(redact_values(access_fields(record)))
    return line


class AccessLogger:
    """Writes one JSON line per request. The lines of one event-loop turn are rendered at the end of the
    turn, after the answers written in it, and go out together in one write (outside a running loop, at
    once); ``flush()`` renders and writes what is pending now (the runtime calls it when it closes, so a
    shutdown or a reload loses no line). Never raises: a line that could not be rendered or written is
    swallowed and counted (``failures``, and ``on_error`` once per line so metrics can count it too)."""

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
        self._pending: list[Callable[[], str]] = []
        self._flush_soon = False

    def log(self, record: AccessRecord) -> None:
        self.log_rendered(partial(render_access_line, record))

    def log_rendered(self, render: Callable[[], str]) -> None:
        """The line ``render()`` gives (a record's line, rendered without building the record first),
        called at the end of the turn: what it reads must not change until then."""
        if not self.enabled:
            return
        self._pending.append(render)
        if self._flush_soon:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        loop.call_soon(self.flush)
        self._flush_soon = True

    def flush(self) -> None:
        self._flush_soon = False
        pending = self._pending
        if not pending:
            return
        self._pending = []
        lines: list[str] = []
        for render in pending:
            try:
                lines.append(render())
            except Exception:
                self._failed(1)
        if not lines:
            return
        try:
            stream = self._stream if self._stream is not None else sys.stdout
            stream.write("\n".join(lines) + "\n")
            stream.flush()
        except Exception:
            self._failed(len(lines))

    def _failed(self, lines: int) -> None:
        self.failures += lines
        if self._on_error is not None:
            for _ in range(lines):
                with contextlib.suppress(Exception):
                    self._on_error()
