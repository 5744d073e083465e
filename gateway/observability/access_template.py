"""The access line with the part a repeated request shares rendered once.

From ``"method"`` to ``"shadow"`` (method, route, principal, issuer, upstream, acting_as, operations,
decision, rule, shadow) the line of a repeated request is the same: ``templated_line`` keeps that part,
JSON-encoded, per distinct set of those values (``MAX_TEMPLATES`` at most, then it starts again) and
encodes only the rest per request. The bytes are ``fast_line``'s
(tests/bench/test_access_template_equivalence.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from gateway.observability.access_json import Outcome, clean_route, middle_json, tail_json, text

MAX_TEMPLATES: Final = 1024

_MIDDLES: dict[object, str] = {}


def _middle(
    method: str,
    route: str,
    principal: str | None,
    issuer: str | None,
    upstream: str | None,
    acting_as: str | None,
    operations: tuple[str, ...],
    decision: str,
    rule: str | None,
    shadow: Sequence[str],
) -> str:
    key = (method, route, principal, issuer, upstream, acting_as, operations, decision, rule, tuple(shadow))
    found = _MIDDLES.get(key)
    if found is None:
        found = middle_json(
            method,
            clean_route(route),
            principal,
            issuer,
            upstream,
            acting_as,
            operations,
            decision,
            rule,
            shadow,
        )
        if len(_MIDDLES) >= MAX_TEMPLATES:
            _MIDDLES.clear()
        _MIDDLES[key] = found
    return found


def templated_line(
    time: str,
    request_id: str,
    method: str,
    route: str,
    principal: str | None,
    issuer: str | None,
    upstream: str | None,
    acting_as: str | None,
    operations: tuple[str, ...],
    decision: str,
    rule: str | None,
    shadow: Sequence[str],
    status: int,
    duration_ms: float,
    upstream_ms: float | None,
    bytes_in: int,
    bytes_out: int,
    limiter: Outcome | None,
    reason: str | None,
    client_ip: str | None,
) -> str:
    """``fast_line`` of these fields with ``route`` not yet cleaned (``clean_route``); raises TypeError
    where ``fast_line`` does (a field of an unusual type, unhashable ones included)."""
    middle = _middle(
        method, route, principal, issuer, upstream, acting_as, operations, decision, rule, shadow
    )
    tail = tail_json(status, duration_ms, upstream_ms, bytes_in, bytes_out, limiter, reason, client_ip)
    return f'{{"time":{text(time)},"request_id":{text(request_id)},{middle},{tail}}}'
