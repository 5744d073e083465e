"""What one request did, gathered along the pipeline and recorded once at the end."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from aiohttp import StreamReader, web

from gateway.dialects.base import Operation
from gateway.errors import STATUS_REASON, AuthenticationError, GatewayError, status_reason
from gateway.observability.access_log import (
    AccessRecord,
    LimiterOutcome,
    needs_redaction,
    operation_strings,
    render_access_line,
)
from gateway.observability.access_template import templated_line
from gateway.observability.jsonlines import rfc3339_now
from gateway.observability.request_id import accept_or_generate
from gateway.ratelimit.base import LimitResult

if TYPE_CHECKING:
    from gateway.runtime import Runtime


@dataclass(slots=True)
class Exchange:
    request_id: str
    method: str
    started: float
    client_ip: str
    upstream: str | None = None
    route: str = ""
    principal: str | None = None
    issuer: str | None = None
    acting_as: str | None = None
    operations: list[Operation] = field(default_factory=list)
    decision: str = "error"
    rule: str = ""
    shadow: list[str] = field(default_factory=list)
    reason: str = ""
    limiter: LimitResult | None = None
    upstream_seconds: float | None = None
    bytes_out: int = 0
    body: StreamReader | None = None
    """The client's request body stream: what it delivered is ``bytes_in``."""
    auth_failure: str = ""
    denied: Operation | None = None
    """The operation a policy denied."""
    limited_by: str = ""
    """The rate limit that refused the request."""
    rejected: str = ""
    """Why the request was not forwarded: ``breaker_open`` or ``queue_full``."""
    bytes_in_at_answer: int | None = None
    """``bytes_in`` when ``finish`` ran: the body stream may still be drained after the answer."""

    def fail(self, error: GatewayError) -> None:
        self.reason = error.reason
        if self.decision in ("allow", "shadow-deny"):
            self.decision = "error"
        if isinstance(error, AuthenticationError):
            self.decision = "deny"
            self.auth_failure = error.reason

    @property
    def bytes_in(self) -> int:
        if self.bytes_in_at_answer is not None:
            return self.bytes_in_at_answer
        return self.body.total_bytes if self.body is not None else 0


def begin(request: web.Request, now: float) -> Exchange:
    """The record of a request that has just arrived (its X-Request-ID accepted when valid)."""
    return Exchange(
        request_id=accept_or_generate(request.headers.get("X-Request-ID")),
        method=request.method,
        started=now,
        client_ip=request.remote or "",
        body=request.content,
    )


def render_plain(error: GatewayError, ex: Exchange) -> web.Response:
    ex.fail(error)
    body = json.dumps({"error_code": error.reason, "error_message": error.message, "status": error.status})
    headers = dict(error.headers)
    headers.setdefault(STATUS_REASON, status_reason(error))
    headers["X-Request-ID"] = ex.request_id
    return web.Response(status=error.status, text=body, content_type="application/json", headers=headers)


def finish(rt: Runtime, ex: Exchange, response: web.StreamResponse, now: float) -> web.StreamResponse:
    """The one place a request's metrics and access line are emitted, from what its stages recorded. The
    duration ends now, before the answer is written; the metrics are observed now (a client that has its
    answer finds its request counted, whichever worker answers the scrape); the access line is rendered at
    the end of the loop turn, after the answer's write (``AccessLogger.log_rendered``)."""
    duration = now - ex.started
    status = response.status
    if not ex.bytes_out:
        ex.bytes_out = _body_length(response)
    bytes_in = ex.bytes_in_at_answer = ex.bytes_in
    first = ex.operations[0] if ex.operations else None
    rt.metrics.observe_request(
        ex.upstream,
        first.entity if first else None,
        first.action if first else None,
        ex.decision,
        status,
        duration,
        ex.principal,
        bytes_in=bytes_in,
        bytes_out=ex.bytes_out,
    )
    if ex.auth_failure:
        rt.metrics.auth_failure(ex.auth_failure)
    upstream = ex.upstream or ""
    if ex.denied is not None:
        rt.metrics.policy_denial(upstream, ex.denied.entity, ex.denied.action)
    if ex.limited_by:
        rt.metrics.rate_limited(upstream, ex.limited_by)
    if ex.rejected:
        rt.metrics.upstream_rejection(upstream, ex.rejected)
    if rt.access_log.enabled:
        rt.access_log.log_rendered(partial(access_line, ex, status, duration))
    return response


def _body_length(response: web.StreamResponse) -> int:
    if isinstance(response, web.Response) and isinstance(response.body, bytes | bytearray):
        return len(response.body)
    return response.content_length or 0


def access_line(ex: Exchange, status: int, duration: float) -> str:
    """``render_access_line(access_record(ex, status, duration))``, without the record when the line needs
    no redaction and every field has its usual type (tests/bench/test_hot_path_equivalence.py), from the
    template of its repeated fields (gateway/observability/access_template.py)."""
    stamp = rfc3339_now()
    try:
        line = templated_line(
            stamp,
            ex.request_id,
            ex.method,
            ex.route,
            ex.principal,
            ex.issuer,
            ex.upstream,
            ex.acting_as,
            operation_strings(ex.operations),
            ex.decision,
            ex.rule or None,
            ex.shadow,
            status,
            duration * 1000.0,
            None if ex.upstream_seconds is None else ex.upstream_seconds * 1000.0,
            ex.bytes_in,
            ex.bytes_out,
            ex.limiter,
            ex.reason or None,
            ex.client_ip,
        )
        if not needs_redaction(line):
            return line
    except TypeError:  # a field of an unusual type: the generic encoder
        pass
    return render_access_line(access_record(ex, status, duration, stamp))


def access_record(ex: Exchange, status: int, duration: float, time: str | None = None) -> AccessRecord:
    limiter = ex.limiter
    return AccessRecord(
        request_id=ex.request_id,
        method=ex.method,
        route=ex.route,
        status=status,
        duration_ms=duration * 1000.0,
        decision=ex.decision,
        principal=ex.principal,
        issuer=ex.issuer,
        upstream=ex.upstream,
        acting_as=ex.acting_as,
        operations=operation_strings(ex.operations),
        rule=ex.rule or None,
        shadow=tuple(ex.shadow),
        upstream_ms=None if ex.upstream_seconds is None else ex.upstream_seconds * 1000.0,
        bytes_in=ex.bytes_in,
        bytes_out=ex.bytes_out,
        limiter=None
        if limiter is None
        else LimiterOutcome(limiter.allowed, limiter.remaining, limiter.backend),
        reason=ex.reason or None,
        client_ip=ex.client_ip,
        time=rfc3339_now() if time is None else time,
    )
