"""The proxy request pipeline, one small step per stage, read top to bottom in ``handle``."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from functools import partial
from urllib.parse import parse_qsl

from aiohttp import BodyPartReader, web
from multidict import CIMultiDict, MultiDict, MultiDictProxy

from gateway.auth.principal import Principal
from gateway.auth.slots import extract_token
from gateway.config.model import UpstreamConfig
from gateway.dialects.base import Operation, RequestView
from gateway.errors import (
    AuthenticationError,
    BadRequest,
    Forbidden,
    GatewayError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
)
from gateway.exchange import Exchange, begin, finish, render_plain
from gateway.keys import STATE
from gateway.limits import limits_for_request
from gateway.observability.metrics import BreakerState
from gateway.proxy.breaker import Transition, log_transition
from gateway.proxy.forward import Forwarded, forward
from gateway.proxy.outbound import build_outbound
from gateway.ratelimit.headers import ratelimit_headers
from gateway.redaction import redact_response
from gateway.runtime import Runtime, UpstreamRuntime
from gateway.scoping import apply_record_scopes
from gateway.signers.base import OutboundRequest

FORM = "application/x-www-form-urlencoded"
API_KEY_READ = Operation("Contact", "get", "response", frozenset({"api_key"}))
MULTIPART = "multipart/form-data"


async def handle(request: web.Request) -> web.StreamResponse:
    rt = request.app[STATE].runtime
    assert rt is not None
    loop = asyncio.get_running_loop()
    ex = begin(request, loop.time())
    matched = rt.router.match(request.host, request.raw_path.split("?", 1)[0])
    if matched is None:
        refusal = render_plain(NotFound("no CRM is configured for this address", reason="no-route"), ex)
        return finish(rt, ex, refusal, loop.time())
    up, rel_path = matched
    ex.upstream = up.name
    upstream = rt.upstreams[up.name]
    view: RequestView | None = None
    response: web.StreamResponse
    extra = CIMultiDict[str]()
    extra["X-Request-ID"] = ex.request_id
    try:
        view = build_view(up, request, rel_path)
        ex.route = view.path
        await read_body(up, view, request)
        principal = await authenticate(rt, view, ex)
        identity_index, identity = rt.identities.lookup(principal, up.name)
        operations = up.dialect.identify(view)
        ex.operations = operations
        authorize(rt, principal, up, operations, ex)
        scopes = rt.config.policies.scopes_for(principal, up.name)
        apply_record_scopes(up, view, operations, scopes, principal)
        extra.extend(await rate_limit(rt, principal, up, operations, ex))
        out = build_outbound(
            up,
            view,
            request_id=ex.request_id,
            client_ip=ex.client_ip,
            scheme=request.scheme,
            host=request.host,
        )
        if up.dialect_name == "civicrm":
            out.headers.popall("Accept-Encoding", None)  # plain answers, so redaction can read them
        up.signer.sign(out, identity, rt.clock())
        response = await send(rt, upstream, identity_index, out, request, extra, ex)
        if up.dialect_name == "civicrm":
            policies = rt.config.policies
            redact_response(response, lambda: policies.evaluate(principal, up.name, [API_KEY_READ]).allowed)
    except GatewayError as error:
        ex.fail(error)
        if isinstance(error, AuthenticationError):
            rt.metrics.auth_failure(error.reason)
        rendering = up.dialect.render_error(error, view)
        headers = CIMultiDict[str](rendering.headers)
        headers.extend(extra)
        response = web.Response(
            status=rendering.status, headers=headers, body=rendering.body, content_type=rendering.content_type
        )
    return finish(rt, ex, response, loop.time())


def build_view(up: UpstreamConfig, request: web.Request, rel_path: str) -> RequestView:
    return RequestView(
        method=request.method,
        path=up.dialect.canonical_path(rel_path),
        raw_path=rel_path,
        query=request.rel_url.query,
        headers=request.headers,
        content_type=request.content_type if request.body_exists else "",
    )


async def read_body(up: UpstreamConfig, view: RequestView, request: web.Request) -> None:
    if not request.body_exists or not up.dialect.body_needed(view):
        return
    length = request.content_length
    if length is not None and length > up.max_body_bytes:
        raise PayloadTooLarge(f"request body is larger than {up.max_body_bytes} bytes")
    if view.content_type == MULTIPART:
        fields = MultiDict[str]()
        async for name, value in _multipart_fields(request, up.max_body_bytes):
            fields.add(name, value)
        view.form = MultiDictProxy(fields)
        view.body = None
        return
    body = await _read_limited(request, up.max_body_bytes)
    view.body = body
    if view.content_type == FORM:
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise BadRequest("form body is not valid UTF-8") from None
        view.form = MultiDictProxy(MultiDict(pairs))


async def _read_limited(request: web.Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _multipart_fields(request: web.Request, limit: int) -> AsyncIterator[tuple[str, str]]:
    reader = await request.multipart()
    size = 0
    while True:
        part = await reader.next()
        if part is None:
            return
        if not isinstance(part, BodyPartReader) or part.filename is not None:  # nested multipart or a file
            raise BadRequest("file uploads are not supported on this route")
        data = await part.read(decode=True)
        size += len(data)
        if size > limit:
            raise PayloadTooLarge(f"request body is larger than {limit} bytes")
        try:
            yield part.name or "", data.decode(part.get_charset("utf-8"))
        except (UnicodeDecodeError, LookupError):
            raise BadRequest("form field is not valid text") from None


async def authenticate(rt: Runtime, view: RequestView, ex: Exchange) -> Principal:
    token = extract_token(view.headers, view.query, view.form, rt.config.auth.slots)
    principal = await rt.authenticator.authenticate(token)
    ex.principal = principal.subject
    ex.issuer = principal.issuer
    return principal


def authorize(
    rt: Runtime, principal: Principal, up: UpstreamConfig, ops: list[Operation], ex: Exchange
) -> None:
    decision = rt.config.policies.evaluate(principal, up.name, ops)
    ex.decision = "allow" if decision.allowed else "deny"
    ex.rule = decision.rule
    ex.shadow = [s.rule for s in decision.shadow if not s.allowed]
    if decision.allowed and ex.shadow:
        ex.decision = "shadow-deny"  # allowed; a shadow policy would have refused it
    if not decision.allowed:
        denied = decision.denied
        if denied is not None:
            rt.metrics.policy_denial(up.name, denied.entity, denied.action)
        raise Forbidden(decision.message, reason="policy-denied")


async def rate_limit(
    rt: Runtime, principal: Principal, up: UpstreamConfig, ops: list[Operation], ex: Exchange
) -> CIMultiDict[str]:
    charged = limits_for_request(rt.config, principal, up.name, ops)
    if not charged:
        return CIMultiDict()
    # one call: every limit is charged its own cost, all or nothing
    result = await rt.limiter.hit([limit for limit, _ in charged], cost=[cost for _, cost in charged])
    ex.limiter = result
    headers = CIMultiDict(ratelimit_headers(result))
    if not result.allowed:
        ex.decision = "ratelimited"
        rule = result.limit.name if result.limit else "limit"
        rt.metrics.rate_limited(up.name, rule)
        headers.popall("Retry-After", None)
        raise RateLimited(
            "rate limit exceeded; retry later",
            retry_after=math.ceil(result.retry_after_seconds),
            headers=headers,
        )
    return headers


async def send(
    rt: Runtime,
    upstream: UpstreamRuntime,
    identity_index: int,
    out: OutboundRequest,
    request: web.Request,
    extra: CIMultiDict[str],
    ex: Exchange,
) -> web.StreamResponse:
    up = upstream.config
    key = str(identity_index)
    try:
        probe = upstream.breaker.check(key)
    except GatewayError:
        rt.metrics.upstream_rejection(up.name, "breaker_open")
        raise
    if probe:
        _breaker_changed(rt, upstream, identity_index, "half-open", ex)
    loop = asyncio.get_running_loop()
    fwd: Forwarded | None = None
    try:
        async with upstream.guard.slot(partial(_report_load, rt, up.name)):
            started = loop.time()
            try:
                response, fwd = await forward(
                    upstream.session,
                    up.origin,
                    out,
                    request,
                    max_body=up.max_body_bytes,
                    extra_headers=extra,
                    loop_time=loop,
                )
            except GatewayError:
                rt.metrics.observe_upstream(up.name, None, loop.time() - started)
                raise
    except GatewayError as error:
        if error.reason in ("queue-full", "queue-timeout"):
            rt.metrics.upstream_rejection(up.name, "queue_full")
        raise
    finally:  # also when the client goes away mid-request: a probe must not stay pending
        change = upstream.breaker.record(key, fwd.status if fwd else None, probe=probe)
        if change is not None:
            _breaker_changed(rt, upstream, identity_index, change, ex)
    ex.upstream_seconds = fwd.upstream_seconds
    ex.bytes_out = fwd.bytes_out
    rt.metrics.observe_upstream(up.name, fwd.status, fwd.upstream_seconds)
    return response


def _report_load(rt: Runtime, upstream: str, inflight: int, queued: int) -> None:
    rt.metrics.set_inflight(upstream, inflight)
    rt.metrics.set_queued(upstream, queued)


_BREAKER_STATES: dict[Transition, BreakerState] = {
    "opened": "open",
    "half-open": "half-open",
    "closed": "closed",
}


def _breaker_changed(
    rt: Runtime, upstream: UpstreamRuntime, identity_index: int, change: Transition, ex: Exchange
) -> None:
    rt.metrics.breaker_transition(upstream.config.name, identity_index, _BREAKER_STATES[change])
    log_transition(upstream.breaker, str(identity_index), upstream.config.name, identity_index, change)
    ex.note = f"breaker {change}"
