"""The access log: one JSON line per answered request.

An ``AccessRecord`` has no field that can hold a token, a header, a query string or a body: secrets
stay out of the access log by construction. Registered secrets (``redact.register_secret``) that still
show up in a line are replaced by ``[REDACTED]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from operator import attrgetter
from typing import Any, Final, Protocol, TextIO

from gateway.dialects.base import Operation
from gateway.observability.jsonlines import dumps, redact_values, rfc3339_now
from gateway.observability.redact import SECRETS

_MAX_ROUTE: Final = 2048


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


_QUOTE: Final[Callable[[str], str]] = json.encoder.encode_basestring_ascii


class _Unusual(TypeError):
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


class Outcome(Protocol):
    """What the access line shows of the limiter's answer (a ``LimiterOutcome`` or the limiter's result)."""

    @property
    def allowed(self) -> bool: ...
    @property
    def remaining(self) -> int | None: ...
    @property
    def backend(self) -> str: ...


def clean_route(route: str) -> str:
    """The route as the access line shows it: a query string or fragment cut off, at most 2048 characters."""
    return route.split("?", 1)[0].split("#", 1)[0][:_MAX_ROUTE]


def fast_line(
    time: str,
    request_id: str,
    method: str,
    route: str,
    principal: str | None,
    issuer: str | None,
    upstream: str | None,
    acting_as: str | None,
    operations: Iterable[str],
    decision: str,
    rule: str | None,
    shadow: Iterable[str],
    status: int,
    duration_ms: float,
    upstream_ms: float | None,
    bytes_in: int,
    bytes_out: int,
    limiter: Outcome | None,
    reason: str | None,
    client_ip: str | None,
) -> str:
    """Exactly ``dumps(access_fields(record))`` of the record with these fields, for the usual field types,
    without the generic encoder (the access line is written once per request); raises TypeError for
    anything else. No redaction: see ``needs_redaction``."""
    if limiter is None:
        limiter_json = "null"
    else:
        limiter_json = (
            f'{{"allowed":{_flag(limiter.allowed)},"remaining":{_number(limiter.remaining)},'
            f'"backend":{_text(limiter.backend)}}}'
        )
    ops = ",".join([_text(op) for op in operations])
    rules = ",".join([_text(rule) for rule in shadow])
    return (
        f'{{"time":{_text(time)},"request_id":{_text(request_id)},'
        f'"method":{_text(method)},"route":{_text(route)},'
        f'"principal":{_text(principal)},"issuer":{_text(issuer)},'
        f'"upstream":{_text(upstream)},"acting_as":{_text(acting_as)},'
        f'"operations":[{ops}],'
        f'"decision":{_text(decision)},"rule":{_text(rule)},"shadow":[{rules}],'
        f'"status":{_number(status)},'
        f'"duration_ms":{_number(_ms(duration_ms))},"upstream_ms":{_number(_ms(upstream_ms))},'
        f'"bytes_in":{_number(bytes_in)},"bytes_out":{_number(bytes_out)},'
        f'"limiter":{limiter_json},"reason":{_text(reason)},"client_ip":{_text(client_ip)}}}'
    )


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
    except (_Unusual, TypeError):
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
