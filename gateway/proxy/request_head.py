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
_CONTROL_BUT_CRLF = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_BYTES = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
"""Control bytes but HTAB, CR and LF (these three are counted instead)."""
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
    block = "\r\n".join(map(": ".join, headers.items()))
    lines = 2 + len(headers)  # the request line, each header, the blank line; then those added below
    head = f"{method} {target} HTTP/1.1\r\n"
    if "Host" not in headers:
        head += f"Host: {host}\r\n"
        lines += 1
    if block:
        head += block + "\r\n"
    if "Accept" not in headers:
        head += "Accept: */*\r\n"
        lines += 1
    if chunked:
        head += "Transfer-Encoding: chunked\r\n"
        lines += 1
    elif "Content-Length" not in headers and (length is not None or method not in NO_BODY_METHODS):
        head += f"Content-Length: {length or 0}\r\n"
        lines += 1
    try:
        raw = (head + "\r\n").encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = b""
    # UTF-8 writes a character above ASCII as bytes above ASCII: the head has no control byte but the
    # line breaks written above exactly when no part of it has a control character.
    if (
        raw
        and len(raw.translate(None, _CONTROL_BYTES)) == len(raw)
        and raw.count(b"\r") == lines == raw.count(b"\n")
    ):
        return raw
    _refuse_controls(method, target, block, len(headers))
    return (head + "\r\n").encode("utf-8", "surrogateescape")


def _refuse_controls(method: str, target: str, block: str, count: int) -> None:
    breaks = max(count - 1, 0)  # every CR and LF in the block must be one of its line breaks
    if (
        _CONTROL_BUT_CRLF.search(block)
        or block.count("\r") != breaks
        or block.count("\n") != breaks
        or _CONTROL.search(target)
        or _CONTROL.search(method)
    ):
        raise BadGateway(
            "the request for the CRM carries a control character in a header", reason="bad-outbound-header"
        )
