"""Proxy mode: admit the request (gateway/admission.py), send it upstream, filter the answer."""

from __future__ import annotations

import asyncio
from functools import partial

from aiohttp import web
from multidict import CIMultiDict

from gateway.admission import Origin, admit
from gateway.answer_plan import plan_answer
from gateway.answers.relay import AnswerPlan
from gateway.dialects.base import RequestView
from gateway.errors import GatewayError, NotFound
from gateway.exchange import Exchange, begin, finish, render_plain
from gateway.faults import client_gone, record_client_closed, unexpected
from gateway.keys import STATE
from gateway.observability.metrics import BreakerState
from gateway.proxy.body import build_view, read_body
from gateway.proxy.breaker import Transition, log_transition
from gateway.proxy.forward import Forwarded, forward
from gateway.proxy.upstream import Upstream
from gateway.runtime import Runtime
from gateway.signers.base import OutboundRequest

CATCH_ALL = "/{tail}"
"""The route ``handle`` serves: every path (as aiohttp spells the pattern ``/{tail:.*}``)."""


async def handle(request: web.Request) -> web.StreamResponse:
    """The routed entry (``app.router``'s catch-all); ``proxy`` is the work, also called directly by the
    listener's dispatcher (gateway/dispatch.py) with the runtime it pinned."""
    rt = request.app[STATE].runtime
    assert rt is not None
    return await proxy(rt, request)


async def proxy(rt: Runtime, request: web.Request) -> web.StreamResponse:
    now = rt.monotonic
    ex = begin(request, now())
    router = rt.router
    matched = router.match(request.host, request.raw_path.split("?", 1)[0], router.port_of(request.transport))
    if matched is None:
        refusal = render_plain(NotFound("no CRM is configured for this address", reason="no-route"), ex)
        return finish(rt, ex, refusal, now())
    route, rel_path = matched
    ex.upstream = route.name
    up = rt.upstreams[route.name]
    view: RequestView | None = None
    response: web.StreamResponse
    extra = CIMultiDict[str]()
    extra["X-Request-ID"] = ex.request_id
    try:
        view = build_view(up, request, rel_path)
        ex.route = view.path
        origin = Origin(client_ip=ex.client_ip, scheme=request.scheme, host=request.host)
        admitted = await admit(rt, up, view, ex, extra, origin, partial(read_body, request=request))
        plan = plan_answer(rt.policies, up, admitted, request)
        response = await send(rt, up, admitted.identity_index, admitted.out, request, extra, ex, plan)
    except asyncio.CancelledError:  # the client hung up (or the shutdown grace ran out)
        record_client_closed(rt, ex, now())
        raise
    except Exception as exc:
        if not isinstance(exc, GatewayError) and client_gone(request):
            record_client_closed(rt, ex, now())
            raise
        error = exc if isinstance(exc, GatewayError) else unexpected(exc, ex)
        ex.fail(error)
        rendering = up.dialect.render_error(error, view)
        headers = CIMultiDict[str](rendering.headers)
        headers.extend(extra)
        response = web.Response(
            status=rendering.status, headers=headers, body=rendering.body, content_type=rendering.content_type
        )
    return finish(rt, ex, response, now())


async def send(
    rt: Runtime,
    upstream: Upstream,
    identity_index: int,
    out: OutboundRequest,
    request: web.Request,
    extra: CIMultiDict[str],
    ex: Exchange,
    plan: AnswerPlan,
) -> web.StreamResponse:
    up = upstream.config
    key = str(identity_index)
    try:
        probe = upstream.breaker.check(key)
    except GatewayError:
        ex.rejected = "breaker_open"
        raise
    if probe:
        _breaker_changed(rt, upstream, identity_index, "half-open")
    now = rt.monotonic
    fwd: Forwarded | None = None
    guard, report = upstream.guard, rt.metrics.load_reporter(up.name)
    try:
        if not guard.enter(report):
            await guard.wait(report)
        try:
            started = now()
            try:
                response, fwd = await forward(
                    upstream.pool,
                    up,
                    out,
                    request,
                    extra_headers=extra,
                    clock=now,
                    plan=plan,
                )
            except GatewayError:
                rt.metrics.observe_upstream(up.name, None, now() - started)
                raise
        finally:
            guard.leave(report)
    except GatewayError as error:
        if error.reason in ("queue-full", "queue-timeout"):
            ex.rejected = "queue_full"
        raise
    finally:  # also when the client goes away mid-request: a probe must not stay pending
        change = upstream.breaker.record(key, fwd.status if fwd else None, probe=probe)
        if change is not None:
            _breaker_changed(rt, upstream, identity_index, change)
    ex.upstream_seconds = fwd.upstream_seconds
    ex.bytes_out = fwd.bytes_out
    rt.metrics.observe_upstream(up.name, fwd.status, fwd.upstream_seconds)
    return response


_BREAKER_STATES: dict[Transition, BreakerState] = {
    "opened": "open",
    "half-open": "half-open",
    "closed": "closed",
}


def _breaker_changed(rt: Runtime, upstream: Upstream, identity_index: int, change: Transition) -> None:
    rt.metrics.breaker_transition(upstream.config.name, identity_index, _BREAKER_STATES[change])
    log_transition(upstream.breaker, str(identity_index), upstream.config.name, identity_index, change)
