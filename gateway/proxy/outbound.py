"""Turn the client's request into the request the upstream will receive (before signing)."""

from __future__ import annotations

from multidict import CIMultiDict, MultiDictProxy

from gateway.dialects.base import RequestView
from gateway.dialects.credentials import TOKEN_PARAMS, outbound_headers
from gateway.proxy.upstream import Upstream
from gateway.signers.base import OutboundRequest

FORWARDING = ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Request-ID")
"""The headers the outbound request takes from this request's origin and id, in the order they are set."""

_DROPPED: dict[frozenset[str], frozenset[str]] = {}
"""By each dialect's (class-level, fixed) ``credential_params``."""


def dropped_params(credential_params: frozenset[str]) -> frozenset[str]:
    """The parameters ``build_outbound`` removes for a dialect with these credential parameters."""
    found = _DROPPED.get(credential_params)
    if found is None:
        found = _DROPPED[credential_params] = credential_params | TOKEN_PARAMS
    return found


def set_forwarding(
    headers: CIMultiDict[str], client_ip: str, scheme: str, host: str, request_id: str
) -> None:
    for name, value in zip(FORWARDING, (client_ip, scheme, host, request_id), strict=True):
        headers[name] = value


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
    drop = dropped_params(upstream.dialect.credential_params)
    headers: CIMultiDict[str] = outbound_headers(view.headers)
    set_forwarding(headers, client_ip, scheme, host, request_id)
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
