"""The decision's answers to the front proxy: 200 with where to send the request and what to set on it,
or the refusal (as the client should see it, or wrapped for nginx)."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web
from multidict import CIMultiDict

from gateway.decision import contract
from gateway.decision.denial import Denial, encode
from gateway.decision.forwarded import Style
from gateway.dialects.base import ErrorRendering
from gateway.errors import GatewayError
from gateway.signers.base import OutboundRequest

UNSUPPORTED = "decision-unsupported"
_CANONICAL = {name.lower(): name for name in contract.SETTABLE}
_NOT_REPLAYED = frozenset({"content-type", "content-length"})
_SET_HEADERS = tuple(contract.set_header(name) for name in contract.SETTABLE)
_REPLY_HEADERS = tuple((name, contract.reply_header(name)) for name in contract.REPLY)
_NO_STORE = ("Cache-Control", "no-store")
_QUERIES_REMEMBERED = 1024
_QUERY_PAIRS_REMEMBERED = 16
_QUERIES: dict[tuple[tuple[str, str], ...], str] = {}
"""``urlencode`` by query pairs (a pure function of them): bounded, emptied when full; long queries
are encoded every time."""


def forward_target(out: OutboundRequest) -> tuple[str, str]:
    """The encoded path and query the front proxy must send: exactly what proxy mode would send."""
    if not out.query:
        return out.path, ""
    if len(out.query) > _QUERY_PAIRS_REMEMBERED:
        return out.path, urlencode(out.query)
    pairs = tuple(out.query)
    query = _QUERIES.get(pairs)
    if query is None:
        query = urlencode(pairs)
        if len(query) <= 2048:
            if len(_QUERIES) >= _QUERIES_REMEMBERED:
                _QUERIES.clear()
            _QUERIES[pairs] = query
    return out.path, query


def upstream_settings(out: OutboundRequest, client: CIMultiDict[str]) -> dict[str, str]:
    """``X-Crm-Set-<Name>`` for every header the gateway sets upstream (the credential, X-Request-ID,
    X-Requested-With), found by comparing the signed request with the client's own headers.
    GatewayError(decision-unsupported) when a header outside the contract changed."""
    settings: dict[str, str] = {}
    for low in _compared(out.headers, client):
        if low in contract.FRONT_SETS:
            continue
        values, before = out.headers.getall(low, []), client.getall(low, [])
        if values == before:
            continue
        name = _CANONICAL.get(low)
        if name is None or len(values) != 1:
            raise GatewayError(
                "this upstream's credential cannot be applied by a front proxy; use proxy mode",
                reason=UNSUPPORTED,
                status=500,
            )
        settings[contract.set_header(name)] = values[0]
    return settings


def _compared(sent: CIMultiDict[str], client: CIMultiDict[str]) -> set[str]:
    """The names whose values may differ (lower-case). Usually the signed request starts with the client's
    headers, in order, and adds the rest: then only the added names can differ."""
    theirs, mine = list(client.items()), list(sent.items())
    if mine[: len(theirs)] == theirs:
        return {name.lower() for name, _ in mine[len(theirs) :]}
    return {name.lower() for name in (*sent.keys(), *client.keys())}


def allowed(
    upstream: str, out: OutboundRequest, settings: dict[str, str], extra: CIMultiDict[str]
) -> web.Response:
    path, query = forward_target(out)
    uri = f"{path}?{query}" if query else path
    # every name, empty when unset: Caddy 2.6 copies absent ones verbatim
    headers = CIMultiDict(
        [
            (contract.UPSTREAM, upstream),
            (contract.PATH, path),
            (contract.QUERY, query),
            (contract.URI, uri),
            *[(header, settings.get(header, "")) for header in _SET_HEADERS],
            *[(header, extra.get(name, "")) for name, header in _REPLY_HEADERS],
            _NO_STORE,
        ]
    )
    return web.Response(status=200, headers=headers)


def refused(rendering: ErrorRendering, extra: CIMultiDict[str]) -> web.Response:
    """The refusal exactly as the client should see it (what a forward-auth front proxy passes on)."""
    headers = CIMultiDict[str](rendering.headers)
    headers.extend(extra)
    return web.Response(
        status=rendering.status, headers=headers, body=rendering.body, content_type=rendering.content_type
    )


def for_front_proxy(response: web.StreamResponse, style: Style) -> web.StreamResponse:
    """nginx's auth_request understands 401 and 403 only and drops the body: wrap the refusal."""
    if style == "forward-auth" or response.status < 400:
        return response
    body = response.body if isinstance(response, web.Response) and isinstance(response.body, bytes) else b""
    headers = tuple((k, v) for k, v in response.headers.items() if k.lower() not in _NOT_REPLAYED)
    denial = Denial(response.status, response.content_type, headers, body)
    return web.Response(
        status=denial.auth_request_status,
        headers={contract.DENIAL: encode(denial), "Cache-Control": "no-store"},
    )


def replay(denial: Denial) -> web.Response:
    """The denial endpoint's answer: the refusal exactly as the decision rendered it."""
    headers = CIMultiDict[str](denial.headers)
    headers["Content-Type"] = denial.content_type
    return web.Response(status=denial.status, headers=headers, body=denial.body)
