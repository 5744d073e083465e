"""Admission: the one list of stages every entry point runs on a routed request (proxy mode, the decision
endpoint, any future front end). Each stage is one call in ``admit``, read top to bottom; a new stage is one
more call at its place there. What an entry point adds (send and filter the answer, or encode the decision
for a front proxy) stays in that entry point."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from typing import NamedTuple

from multidict import CIMultiDict

from gateway.acting import resolve_identity
from gateway.admission_memo import Plan, answer_fields, template_of
from gateway.dialects.base import Operation, RequestView
from gateway.errors import Forbidden, RateLimited
from gateway.exchange import Exchange
from gateway.identities import Selection
from gateway.identity.spec import ActingAs
from gateway.limits import limits_for_request
from gateway.principal import Principal
from gateway.proxy.outbound import build_outbound, dropped_params
from gateway.proxy.upstream import Upstream
from gateway.ratelimit.base import Limit
from gateway.ratelimit.headers import ratelimit_headers
from gateway.runtime import Runtime
from gateway.scoping import apply_record_scopes
from gateway.signers.base import Identity, OutboundRequest
from gateway.wire.slots import extract_token

BodyReader = Callable[[Upstream, RequestView], Awaitable[None]]
"""The entry point's way to give the dialect the body it needs (proxy mode reads it; the decision endpoint
never sees one and refuses a request whose meaning depends on it)."""


class Origin(NamedTuple):
    """Where the client's request came from, as the entry point learned it (a tuple: one per request)."""

    client_ip: str
    scheme: str
    host: str
    front_proxy: bool = False
    """True when a front proxy sends the outbound request (the decision endpoint): the path never holds a
    ``$`` (Caddy's path_regexp would expand it), and the credential must travel in headers only."""


class Admitted(NamedTuple):
    """An admitted request: who asked, as whom it goes upstream, and the signed outbound request."""

    principal: Principal
    identity_index: int
    identity: Identity
    operations: list[Operation]
    out: OutboundRequest
    credential_in_params: bool
    """The signer put the credential into the query or form (only computed for a front proxy)."""
    plan: Plan | None = None
    """The admission memo's plan that admitted it (its answer filter is the plan's)."""


async def admit(
    rt: Runtime,
    up: Upstream,
    view: RequestView,
    ex: Exchange,
    extra: CIMultiDict[str],
    origin: Origin,
    read_body: BodyReader,
) -> Admitted:
    """Every stage between routing and sending; GatewayError refuses. ``extra`` collects the headers the
    client's answer carries whatever happens (X-Request-ID, RateLimit)."""
    await read_body(up, view)
    principal = await authenticate(rt, view, ex)
    memo = rt.admissions
    drop = dropped_params(up.dialect.credential_params)
    key = memo.key(up.config.name, drop, view, principal, origin.front_proxy)
    plan = memo.get(key, principal) if key is not None else None
    if plan is not None:
        return await _admit_again(rt, up, plan, ex, extra, origin)
    selection = rt.identities.select(principal, up.config.name)
    operations = up.dialect.identify(view)
    ex.operations = operations
    authorize(rt, principal, up, operations, ex)
    scopes = rt.policies.scopes_for(principal, up.config.name)
    apply_record_scopes(up.dialect, view, operations, scopes, principal)
    acting = await act_as(rt, principal, up, selection, ex)
    settings = rt.config.ratelimit
    charged = limits_for_request(rt.policies, settings, principal, up.config.name, operations, acting.person)
    extra.extend(await rate_limit(rt, charged, ex))
    out = prepare(up, view, ex, origin)
    if key is not None and principal.expires_at is not None and not selection.pending and not scopes:
        shadow, limits, ops = tuple(ex.shadow), tuple(charged), tuple(operations)
        fields = answer_fields(rt.policies, up, principal, ops)
        plan = Plan(principal, acting, ops, ex.decision, ex.rule, shadow, limits, template_of(out), fields)
        memo.put(key, plan)
    return _signed(rt, up, principal, acting, operations, out, origin, plan)


async def _admit_again(
    rt: Runtime, up: Upstream, plan: Plan, ex: Exchange, extra: CIMultiDict[str], origin: Origin
) -> Admitted:
    """A request the memo has a plan for: what the skipped stages would record, then every stage that can
    answer differently for the same request (rate limits here; signing, and after admit the breaker)."""
    operations = list(plan.operations)
    ex.operations = operations
    ex.decision, ex.rule, ex.shadow = plan.decision, plan.rule, list(plan.shadow)
    acting = plan.acting
    ex.acting_as = acting.label
    extra.extend(await rate_limit(rt, plan.charged, ex))
    out = plan.outbound(ex.request_id, origin.client_ip, origin.scheme, origin.host)
    return _signed(rt, up, plan.principal, acting, operations, out, origin, plan)


def _signed(
    rt: Runtime,
    up: Upstream,
    principal: Principal,
    acting: ActingAs,
    operations: list[Operation],
    out: OutboundRequest,
    origin: Origin,
    plan: Plan | None,
) -> Admitted:
    unsigned = (list(out.query), out.form) if origin.front_proxy else None
    up.signer.sign(out, acting.identity, rt.clock())
    moved = unsigned is not None and (unsigned != (out.query, out.form) or out.body is not None)
    return Admitted(principal, acting.index, acting.identity, operations, out, moved, plan)


async def authenticate(rt: Runtime, view: RequestView, ex: Exchange) -> Principal:
    token = extract_token(view.headers, view.query, view.form, rt.config.auth.slots)
    principal = await rt.authenticator.authenticate(token)
    ex.principal = principal.subject
    ex.issuer = principal.issuer
    return principal


def authorize(rt: Runtime, principal: Principal, up: Upstream, ops: list[Operation], ex: Exchange) -> None:
    decision = rt.policies.evaluate(principal, up.config.name, ops)
    ex.decision = "allow" if decision.allowed else "deny"
    ex.rule = decision.rule
    ex.shadow = [s.rule for s in decision.shadow if not s.allowed]
    if decision.allowed and ex.shadow:
        ex.decision = "shadow-deny"  # allowed; a shadow policy would have refused it
    if not decision.allowed:
        denied = decision.denied
        ex.denied = denied
        raise Forbidden(decision.message, reason="policy-denied")


async def act_as(
    rt: Runtime, principal: Principal, up: Upstream, selection: Selection, ex: Exchange
) -> ActingAs:
    """The CRM identity; look-ups through the CRM happen here, after authentication and policy."""
    acting = await resolve_identity(rt, principal, up, selection)
    ex.acting_as = acting.label
    return acting


async def rate_limit(rt: Runtime, charged: Sequence[tuple[Limit, int]], ex: Exchange) -> dict[str, str]:
    """The RateLimit headers of the client's answer; RateLimited when a limit refuses. ``charged``: the
    request's limits and their costs (``limits_for_request``)."""
    if not charged:
        return {}
    # one call: every limit is charged its own cost, all or nothing
    result = await rt.limiter.hit([limit for limit, _ in charged], cost=[cost for _, cost in charged])
    ex.limiter = result
    headers = ratelimit_headers(result)
    if not result.allowed:
        ex.decision = "ratelimited"
        ex.limited_by = result.limit.name if result.limit else "limit"
        headers.pop("Retry-After", None)
        raise RateLimited(
            "rate limit exceeded; retry later",
            retry_after=math.ceil(result.retry_after_seconds),
            headers=headers,
        )
    return headers


def prepare(up: Upstream, view: RequestView, ex: Exchange, origin: Origin) -> OutboundRequest:
    """The unsigned outbound request: the client's, less its credentials, plus what the dialect needs."""
    out = build_outbound(
        up, view, request_id=ex.request_id, client_ip=origin.client_ip, scheme=origin.scheme, host=origin.host
    )
    if origin.front_proxy:
        out.path = out.path.replace("$", "%24")  # front proxies may expand "$" (Caddy's path_regexp does)
    return out
