"""The access line as JSON text without the generic encoder: the usual field types written directly, the same
bytes ``json.dumps`` would give (``Unusual``, a TypeError, for anything else)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import Final, Protocol

_MAX_ROUTE: Final = 2048


def rounded_ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


_QUOTE: Final[Callable[[str], str]] = json.encoder.encode_basestring_ascii


class Unusual(TypeError):
    """A field of a type the fast access-line writer does not handle: the generic encoder takes over."""


def text(value: object) -> str:
    if value is None:
        return "null"
    if type(value) is str:
        return _QUOTE(value)
    raise Unusual


def number(value: object) -> str:
    if value is None:
        return "null"
    if type(value) is int:
        return int.__repr__(value)
    if type(value) is float and math.isfinite(value):
        return float.__repr__(value)
    raise Unusual


def flag(value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    raise Unusual


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
    middle = middle_json(
        method, route, principal, issuer, upstream, acting_as, operations, decision, rule, shadow
    )
    tail = tail_json(status, duration_ms, upstream_ms, bytes_in, bytes_out, limiter, reason, client_ip)
    return f'{{"time":{text(time)},"request_id":{text(request_id)},{middle},{tail}}}'


def middle_json(
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
) -> str:
    """The line's fields from ``method`` to ``shadow``, JSON-encoded (what a repeated request shares)."""
    ops = ",".join([text(op) for op in operations])
    rules = ",".join([text(r) for r in shadow])
    return (
        f'"method":{text(method)},"route":{text(route)},'
        f'"principal":{text(principal)},"issuer":{text(issuer)},'
        f'"upstream":{text(upstream)},"acting_as":{text(acting_as)},'
        f'"operations":[{ops}],'
        f'"decision":{text(decision)},"rule":{text(rule)},"shadow":[{rules}]'
    )


def tail_json(
    status: int,
    duration_ms: float,
    upstream_ms: float | None,
    bytes_in: int,
    bytes_out: int,
    limiter: Outcome | None,
    reason: str | None,
    client_ip: str | None,
) -> str:
    """The line's fields from ``status`` to ``client_ip``, JSON-encoded."""
    if limiter is None:
        limiter_json = "null"
    else:
        limiter_json = (
            f'{{"allowed":{flag(limiter.allowed)},"remaining":{number(limiter.remaining)},'
            f'"backend":{text(limiter.backend)}}}'
        )
    return (
        f'"status":{number(status)},'
        f'"duration_ms":{number(rounded_ms(duration_ms))},"upstream_ms":{number(rounded_ms(upstream_ms))},'
        f'"bytes_in":{number(bytes_in)},"bytes_out":{number(bytes_out)},'
        f'"limiter":{limiter_json},"reason":{text(reason)},"client_ip":{text(client_ip)}'
    )
