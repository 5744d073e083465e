"""The bytes of a request as aiohttp's client writes them: ``Host`` first, the request's headers in order,
``Accept: */*`` when absent, then the body's framing (``Content-Length``, ``0`` for methods that carry a
body, or ``Transfer-Encoding: chunked`` for a streamed body). No control character may reach the wire."""

from __future__ import annotations

import re

from multidict import CIMultiDict
from yarl import URL

from gateway.errors import BadGateway

NO_BODY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
"""Methods that get no ``Content-Length: 0`` without a body (aiohttp's ``GET_METHODS``)."""
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
"""What aiohttp refuses in a header or request line (RFC 9110 5.5: CTLs but HTAB)."""
_PLAIN_TARGET = re.compile(r"/[^ #]*")


def request_target(origin: str, path: str, query: str) -> str:
    """``path?query`` as aiohttp sends ``URL(origin + path + "?" + query, encoded=True)``."""
    text = path + "?" + query if query else path
    if _PLAIN_TARGET.fullmatch(path):
        return text
    return URL(origin + text, encoded=True).raw_path_qs


def request_head(
    method: str,
    target: str,
    host: str,
    headers: CIMultiDict[str],
    length: int | None,
    *,
    chunked: bool = False,
) -> bytes:
    """``length``: the body's size, None without a body; ``chunked``: the body is streamed."""
    lines = [f"{name}: {value}" for name, value in headers.items()]
    if _CONTROL.search(target) or _CONTROL.search("\t".join(lines)) or _CONTROL.search(method):
        raise BadGateway(
            "the request for the CRM carries a control character in a header", reason="bad-outbound-header"
        )
    if "Host" not in headers:
        lines.insert(0, f"Host: {host}")
    if "Accept" not in headers:
        lines.append("Accept: */*")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    elif "Content-Length" not in headers and (length is not None or method not in NO_BODY_METHODS):
        lines.append(f"Content-Length: {length or 0}")
    lines.append("\r\n")
    return (f"{method} {target} HTTP/1.1\r\n" + "\r\n".join(lines)).encode("utf-8", "surrogateescape")
