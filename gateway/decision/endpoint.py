"""The decision endpoint: the proxy pipeline's stages on a request the front proxy describes, answering
what to forward instead of forwarding it; and the denial endpoint nginx replays refusals through."""

from __future__ import annotations

import asyncio
import json
from functools import partial

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict

from gateway.admission import Origin, admit
from gateway.config.decision_model import DecisionConfig
from gateway.decision import answer, contract
from gateway.decision.denial import decode
from gateway.decision.forwarded import (
    ForwardedRequest,
    decision_view,
    read_forwarded,
    refuse_reserved_headers,
)
from gateway.dialects.base import ErrorRendering, RequestView
from gateway.dialects.credentials import outbound_headers
from gateway.errors import (
    STATUS_REASON,
    Forbidden,
    GatewayError,
    NotFound,
    ServiceUnavailable,
    status_reason,
)
from gateway.exchange import Exchange, begin, finish, render_plain
from gateway.faults import record_client_closed, unexpected
from gateway.inflight import PinnedHandler
from gateway.keys import STATE
from gateway.proxy.breaker import OPEN
from gateway.proxy.upstream import Upstream
from gateway.runtime import Runtime

UNTRUSTED = "untrusted-proxy"
_PEERS_REMEMBERED = 1024


class _PeerTrust:
    """``DecisionConfig.trusts`` by peer address, remembered for one DecisionConfig (a reload brings a
    new one, which starts empty; the memo holds the old one, so its identity is never reused)."""

    __slots__ = ("config", "known")

    def __init__(self) -> None:
        self.config: DecisionConfig | None = None
        self.known: dict[str | None, bool] = {}

    def trusts(self, config: DecisionConfig, peer: str | None) -> bool:
        if self.config is not config:
            self.config, self.known = config, {}
        found = self.known.get(peer)
        if found is None:
            if len(self.known) >= _PEERS_REMEMBERED:
                self.known.clear()
            found = self.known[peer] = config.trusts(peer)
        return found


_PEERS = _PeerTrust()


async def decide(request: web.Request) -> web.StreamResponse:
    """The routed entry (``app.router``); ``decision`` is the work, also called directly by the listener's
    dispatcher (gateway/dispatch.py) with the runtime it pinned."""
    rt = request.app[STATE].runtime
    assert rt is not None
    return await decision(rt, request)


async def decision(rt: Runtime, request: web.Request) -> web.StreamResponse:
    now = rt.monotonic
    ex = begin(request, now())
    if not _PEERS.trusts(rt.config.decision, request.remote):
        refusal = Forbidden("this endpoint answers the configured front proxies only", reason=UNTRUSTED)
        return finish(rt, ex, render_plain(refusal, ex), now())
    try:
        fwd = read_forwarded(request.headers, request.remote or "")
    except GatewayError as error:  # a front proxy that does not speak the contract: tell its operator
        return finish(rt, ex, render_plain(error, ex), now())
    ex.method, ex.client_ip = fwd.method, fwd.client_ip
    extra = CIMultiDict[str]()
    extra["X-Request-ID"] = ex.request_id
    matched = rt.router.match(fwd.host, fwd.routing_path)
    if matched is None:
        no_route = NotFound("no CRM is configured for this address", reason="no-route")
        ex.fail(no_route)
        recorded = finish(rt, ex, answer.refused(_plain(no_route), extra), now())
        return answer.for_front_proxy(recorded, fwd.style)
    route, rel_path = matched
    ex.upstream = route.name
    up = rt.upstreams[route.name]
    view: RequestView | None = None
    try:
        view = decision_view(up, fwd, rel_path, request.headers)
        ex.route = view.path
        response = await _decide(rt, up, view, fwd, ex, extra)
    except asyncio.CancelledError:
        record_client_closed(rt, ex, now())
        raise
    except Exception as exc:
        failure = exc if isinstance(exc, GatewayError) else unexpected(exc, ex)
        ex.fail(failure)
        response = answer.refused(up.dialect.render_error(failure, view), extra)
    # recorded as the client will see it; then wrapped for nginx when it is a refusal
    return answer.for_front_proxy(finish(rt, ex, response, now()), fwd.style)


async def _decide(
    rt: Runtime,
    up: Upstream,
    view: RequestView,
    fwd: ForwardedRequest,
    ex: Exchange,
    extra: CIMultiDict[str],
) -> web.Response:
    if not rt.config.decision.serves(up.config.name):
        raise Forbidden(
            "this CRM is not served in decision mode; send the request to the gateway itself",
            reason="decision-not-enabled",
        )
    refuse_reserved_headers(view.headers)
    origin = Origin(client_ip=fwd.client_ip, scheme=fwd.scheme, host=fwd.host, front_proxy=True)
    admitted = await admit(rt, up, view, ex, extra, origin, partial(_refuse_body, fwd))
    _refuse_open_breaker(up, admitted.identity_index, ex)
    if admitted.credential_in_params:
        raise GatewayError(
            "this upstream's credential travels in the query or body; use proxy mode",
            reason=answer.UNSUPPORTED,
            status=500,
        )
    settings = answer.upstream_settings(admitted.out, outbound_headers(view.headers))
    return answer.allowed(up.config.name, admitted.out, settings, extra)


async def _refuse_body(fwd: ForwardedRequest, up: Upstream, view: RequestView) -> None:
    """The decision never sees a body: a request whose meaning depends on one goes to proxy mode."""
    if fwd.declares_body or up.dialect.body_needed(view):
        raise Forbidden(
            "what this request does depends on its body; send it to the gateway itself, not to the "
            "decision endpoint",
            reason="body-required",
        )


def _refuse_open_breaker(upstream: Upstream, identity_index: int, ex: Exchange) -> None:
    """Respect a breaker that proxy-mode traffic opened; never probe (the gateway sees no answer here)."""
    breaker = upstream.breaker
    if breaker.state(str(identity_index)) == OPEN:
        ex.rejected = "breaker_open"
        raise ServiceUnavailable(
            "the CRM keeps refusing the gateway's credential for this integration; requests are paused",
            reason="upstream-credential-rejected",
            headers={"Retry-After": str(max(1, round(breaker.cooldown)))},
        )


def _plain(error: GatewayError) -> ErrorRendering:
    body = json.dumps({"error_code": error.reason, "error_message": error.message, "status": error.status})
    headers = {STATUS_REASON: status_reason(error), **error.headers}
    return ErrorRendering(error.status, headers, body.encode(), "application/json")


async def replay_denial(request: web.Request) -> web.StreamResponse:
    """Trusted front proxies only: the refusal a decision encoded in X-Crm-Denial, as the client sees it."""
    rt = request.app[STATE].runtime
    assert rt is not None
    if not _PEERS.trusts(rt.config.decision, request.remote):
        return _plain_response(
            Forbidden("this endpoint answers the configured front proxies only", reason=UNTRUSTED)
        )
    try:
        denial = decode(request.headers.get(contract.DENIAL, ""))
    except GatewayError as error:
        return _plain_response(error)
    return answer.replay(denial)


def _plain_response(error: GatewayError) -> web.Response:
    rendering = _plain(error)
    return web.Response(status=rendering.status, body=rendering.body, content_type=rendering.content_type)


PINNED: dict[Handler, PinnedHandler] = {decide: decision}
"""Routed handlers of this module and the pinned-runtime form the listener's dispatcher calls instead."""


def add_decision_routes(app: web.Application, config: DecisionConfig) -> None:
    """Register the endpoints (before the proxy's catch-all route); nothing when decision mode is off."""
    if not config.enabled:
        return
    app.router.add_route("*", config.path, decide)
    app.router.add_route("*", config.denial_path, replay_denial)
