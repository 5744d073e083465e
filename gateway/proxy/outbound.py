"""Turn the client's request into the request the upstream will receive (before signing)."""

from __future__ import annotations

from multidict import CIMultiDict, MultiDictProxy

from gateway.dialects.base import RequestView
from gateway.dialects.credentials import TOKEN_PARAMS, outbound_headers
from gateway.proxy.upstream import Upstream
from gateway.signers.base import OutboundRequest


def strip_params(params: MultiDictProxy[str] | None, drop: frozenset[str]) -> list[tuple[str, str]] | None:
    if params is None:
        return None
    return [(k, v) for k, v in params.items() if k not in drop]


def build_outbound(
    upstream: Upstream,
    view: RequestView,
    *,
    request_id: str,
    client_ip: str,
    scheme: str,
    host: str,
) -> OutboundRequest:
    drop = upstream.dialect.credential_params | TOKEN_PARAMS
    headers: CIMultiDict[str] = outbound_headers(view.headers)
    headers["X-Forwarded-For"] = client_ip
    headers["X-Forwarded-Proto"] = scheme
    headers["X-Forwarded-Host"] = host
    headers["X-Request-ID"] = request_id
    if upstream.config.requested_with and upstream.dialect.needs_requested_with(view):
        headers["X-Requested-With"] = "XMLHttpRequest"
    form = strip_params(view.form, drop)
    return OutboundRequest(
        method=view.method,
        path=upstream.config.base_path + upstream.dialect.forward_path(view),
        query=strip_params(view.query, drop) or [],
        headers=headers,
        base_path=upstream.config.base_path,
        form=form,
        body=view.body if form is None else None,
    )
