"""The original request as the front proxy describes it, and the RequestView the dialects read from it."""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

from multidict import CIMultiDictProxy, MultiDictProxy
from yarl import URL

from gateway.decision import contract
from gateway.dialects.base import RequestView
from gateway.errors import BadRequest
from gateway.proxy.upstream import Upstream

Style = Literal["nginx", "forward-auth"]
"""``nginx``: auth_request (X-Original-*), refusals go back as 401/403 + X-Crm-Denial.
``forward-auth``: Caddy/Traefik (X-Forwarded-*), refusals go back as the client should see them."""

INCOMPLETE = "decision-request-incomplete"
_METHOD = re.compile(r"[A-Za-z]{1,20}")


class ForwardedRequest(NamedTuple):
    style: Style
    method: str
    uri: str
    host: str
    scheme: str
    client_ip: str
    declares_body: bool = False
    """The front proxy says the original request carries a body (X-Original-Content-Length > 0 or an
    X-Original-Transfer-Encoding): the decision cannot see it, so it refuses the request."""

    @property
    def routing_path(self) -> str:
        """The raw path the router matches, as proxy mode takes it from ``request.raw_path``."""
        return self.uri.split("?", 1)[0]

    @property
    def url(self) -> URL:
        """The target parsed the way aiohttp parses a request line (fragment, then query)."""
        path, _, fragment = self.uri.partition("#")
        path, _, query = path.partition("?")
        return URL.build(path=path, query_string=query, fragment=fragment, encoded=True)


def _single(headers: CIMultiDictProxy[str], name: str) -> str | None:
    values = headers.getall(name, [])
    if len(values) > 1:
        raise BadRequest(f"the front proxy sent {name} more than once", reason=INCOMPLETE)
    return values[0] if values else None


def _agreeing(headers: CIMultiDictProxy[str], nginx: str, forward_auth: str) -> tuple[str | None, bool]:
    first, second = _single(headers, nginx), _single(headers, forward_auth)
    if first is not None and second is not None and first != second:
        raise BadRequest(f"{nginx} and {forward_auth} disagree", reason=INCOMPLETE)
    return (first, True) if first is not None else (second, False)


def read_forwarded(headers: CIMultiDictProxy[str], peer: str) -> ForwardedRequest:
    """BadRequest(decision-request-incomplete) when the description is missing, repeated or inconsistent."""
    method, nginx_method = _agreeing(headers, "X-Original-Method", "X-Forwarded-Method")
    uri, nginx_uri = _agreeing(headers, "X-Original-URI", "X-Forwarded-Uri")
    if method is None or uri is None:
        raise BadRequest(
            "the front proxy did not say which request to decide: send X-Original-Method and "
            "X-Original-URI, or X-Forwarded-Method and X-Forwarded-Uri",
            reason=INCOMPLETE,
        )
    if not _METHOD.fullmatch(method):
        raise BadRequest("the forwarded method is not an HTTP method", reason=INCOMPLETE)
    if not uri.startswith("/"):
        raise BadRequest("the forwarded URI must be a path (origin form)", reason=INCOMPLETE)
    host = _single(headers, "X-Forwarded-Host") or _single(headers, "Host") or ""
    forwarded_for = [part.strip() for part in ",".join(headers.getall("X-Forwarded-For", [])).split(",")]
    return ForwardedRequest(
        style="nginx" if nginx_method and nginx_uri else "forward-auth",
        method=method,
        uri=uri,
        host=host.strip(),
        scheme=(_single(headers, "X-Forwarded-Proto") or "http").strip().lower(),
        client_ip=forwarded_for[-1] if forwarded_for[-1] else peer,
        declares_body=_declares_body(headers),
    )


def _declares_body(headers: CIMultiDictProxy[str]) -> bool:
    length = (_single(headers, "X-Original-Content-Length") or "").strip()
    if length and (not length.isdigit() or int(length) > 0):
        return True
    return bool((_single(headers, "X-Original-Transfer-Encoding") or "").strip())


_NAMES_REMEMBERED = 1024
_ACCEPTED: set[str] = set()
"""Header names already found neither reserved nor unstrippable (fixed tables: the answer never changes);
bounded, emptied when full."""


def refuse_reserved_headers(headers: CIMultiDictProxy[str]) -> None:
    """The client may not speak for the gateway (``X-Crm-*``) nor carry a credential header that a front
    proxy without prefix removal (nginx) would pass to the CRM."""
    for name in headers:
        if name in _ACCEPTED:
            continue
        if contract.reserved(name):
            raise BadRequest("X-Crm-* headers are reserved for the gateway", reason="reserved-header")
        if contract.unstrippable(name):
            raise BadRequest(
                f"the header {name} is not accepted in decision mode", reason="credential-header"
            )
        if len(_ACCEPTED) >= _NAMES_REMEMBERED:
            _ACCEPTED.clear()
        _ACCEPTED.add(name)


def decision_view(
    up: Upstream, fwd: ForwardedRequest, rel_path: str, headers: CIMultiDictProxy[str]
) -> RequestView:
    """What ``pipeline.build_view`` builds from an aiohttp request, built from the forwarded description.
    The body never reaches the gateway here: ``body`` and ``form`` stay None, and the content type is
    taken from the client's header so that a dialect that would need the body says so."""
    content_type = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    query: MultiDictProxy[str] = fwd.url.query
    return RequestView(
        method=fwd.method,
        path=up.dialect.canonical_path(rel_path),
        raw_path=rel_path,
        query=query,
        headers=headers,
        content_type=content_type,
    )
