"""Proxy mode's request-side shortcuts (docs/performance.md, proxytrim) give exactly what they replace: each
old form is kept here and compared on many inputs."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from gateway.errors import BadGateway
from gateway.proxy.forward import TARGETS_KEPT, form_encode, target_of
from gateway.proxy.pool import Pool
from gateway.proxy.request_head import NO_BODY_METHODS, request_head, request_target
from tests.support.raw_upstream import config_for

# --- the request target: remembered per pool by path and query ---

ORIGIN = "http://crm.internal:8080"
PATHS = ["/api/v1/Lead", "/wp/civicrm/ajax/rest", "/a b/%zz/ü", "/x?y", "/", "/api/v1/Lead/abc#frag"]
QUERIES = [
    [],
    [("maxSize", "5"), ("offset", "0")],
    [("q", "a&b=c;d/e?f#g"), ("q", "Ada Lovelace+1")],
    [("name", "Zoë Ünal"), ("", "")],
    [("key", "site key"), ("api_key", "k/+=")],
]


def test_the_target_is_request_target_of_the_encoded_query() -> None:
    pool = Pool(config_for(ORIGIN))
    for _ in range(2):  # computed, then remembered
        for path in PATHS:
            for query in QUERIES:
                expected = request_target(ORIGIN, path, form_encode(query) if query else "")
                assert target_of(pool, ORIGIN, path, list(query)) == expected


def test_the_remembered_targets_are_bounded() -> None:
    pool = Pool(config_for(ORIGIN))
    for n in range(TARGETS_KEPT * 2 + 5):
        assert target_of(pool, ORIGIN, f"/r/{n}", [("n", str(n))]) == f"/r/{n}?n={n}"
        assert len(pool.targets) <= TARGETS_KEPT


# --- the request head: the control-character check on the encoded head ---

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_CONTROL_BUT_CRLF = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def old_request_head(
    method: str,
    target: str,
    host: str,
    headers: CIMultiDict[str],
    length: int | None,
    *,
    chunked: bool = False,
) -> bytes:
    block = "\r\n".join(map(": ".join, headers.items()))
    breaks = max(len(headers) - 1, 0)
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
    head = f"{method} {target} HTTP/1.1\r\n"
    if "Host" not in headers:
        head += f"Host: {host}\r\n"
    if block:
        head += block + "\r\n"
    if "Accept" not in headers:
        head += "Accept: */*\r\n"
    if chunked:
        head += "Transfer-Encoding: chunked\r\n"
    elif "Content-Length" not in headers and (length is not None or method not in NO_BODY_METHODS):
        head += f"Content-Length: {length or 0}\r\n"
    return (head + "\r\n").encode("utf-8", "surrogateescape")


def _outcome(build: object, *args: object, **kwargs: object) -> bytes | str:
    try:
        return build(*args, **kwargs)  # type: ignore[operator,no-any-return]
    except BadGateway as error:
        return f"BadGateway {error.reason}"
    except UnicodeEncodeError:
        return "UnicodeEncodeError"


VALUES = [
    "wrk",
    "",
    "a\tb",
    "a\rb",
    "a\nb",
    "a\r\nb",
    "x\x00",
    "\x7f",
    "Zoë",
    "\x85",
    "\u2028",
    "\udc80",
    "\ud800",
]
HEADER_SETS = [
    [],
    [("Accept", "application/json")],
    [("Host", "h"), ("Content-Length", "3")],
    [("User-Agent", "wrk"), ("X-Hmac-Authorization", "YmVuY2g6ZTNi"), ("X-Request-ID", "5f0c")],
]


@pytest.mark.parametrize("method", ["GET", "POST", "HEAD", "G\x00T", "GET\r\n"])
@pytest.mark.parametrize("target", ["/api/v1/Lead?maxSize=5", "/a\tb", "/a\rb", "/ü", "/\x7f", "/\udcff"])
@pytest.mark.parametrize("host", ["crm:8080", "crm\r\nX: y"])
def test_request_head_is_the_old_one(method: str, target: str, host: str) -> None:
    for base in HEADER_SETS:
        for value in VALUES:
            for headers in (CIMultiDict(base), CIMultiDict([*base, ("X-Value", value)])):
                for length, chunked in ((None, False), (3, False), (None, True)):
                    args = (method, target, host, headers, length)
                    got = _outcome(request_head, *args, chunked=chunked)
                    assert got == _outcome(old_request_head, *args, chunked=chunked), (args, chunked)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=8), st.text(max_size=12)), max_size=4), st.text(max_size=12))
def test_request_head_of_any_headers(pairs: list[tuple[str, str]], target: str) -> None:
    headers = CIMultiDict(pairs)
    args = ("GET", "/" + target, "crm", headers, None)
    assert _outcome(request_head, *args) == _outcome(old_request_head, *args)
