"""The credential guard: the values the gateway injected into a request never come back in its answer.

Each injected value is searched in the spellings an echo can take (as is, URL-encoded as PHP and Python
encode it, either hex case, JSON-escaped as ``json_encode`` writes it, HTML-escaped) and replaced by
``[redacted]``; a URL echoed inside another URL's parameter (a login page's ``redirect_to``) is
covered too. Streamed bodies keep a tail as long as the longest spelling between chunks, so a value
split across two chunks is still found.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import quote, quote_plus

MARK = "[redacted]"
_MARK = MARK.encode()
_HEX = re.compile(r"%[0-9A-F]{2}")


def _url_forms(value: str) -> set[str]:
    forms = {quote_plus(value, safe=""), quote(value, safe=""), quote(value, safe="/")}
    forms |= {f.replace("~", "%7E") for f in forms}  # PHP < 7.3 urlencode encodes "~"
    forms |= {_HEX.sub(lambda m: m.group(0).lower(), f) for f in forms}
    return forms


@lru_cache(maxsize=4096)
def spellings(value: str) -> frozenset[str]:
    """Every form of ``value`` the guard looks for (cached: the same credentials sign most requests)."""
    escaped = json.dumps(value)[1:-1]
    forms = {value, escaped, escaped.replace("/", "\\/"), html.escape(value), html.escape(value, quote=False)}
    url = _url_forms(value)
    forms |= url | {html.escape(f) for f in url}
    forms |= {quote(f, safe="") for f in url}  # a URL inside a URL: a login page's redirect_to
    return frozenset(f for f in forms if f)


_ALNUM = re.compile(r"[A-Za-z0-9]+")


def _anchor(secret: str) -> str:
    """The longest run of letters and digits in ``secret`` when every spelling of it contains that run
    (escaping leaves letters and digits as they are), else ``""``, which every text contains."""
    anchor = max(_ALNUM.findall(secret), key=len, default="")
    return anchor if all(anchor in form for form in spellings(secret)) else ""


class _Compiled(NamedTuple):
    texts: tuple[str, ...]
    """Every spelling, longest first (a longer spelling containing a shorter one goes first)."""
    encoded: tuple[bytes, ...]
    tail: int
    """What a stream keeps between chunks: the longest spelling's length less one."""
    shortest: int
    """The shortest spelling's length: a shorter text contains none."""
    anchors: tuple[bytes, ...]
    """One ``_anchor`` per secret: a body that contains none of them contains no spelling."""


@lru_cache(maxsize=1024)
def _compiled(secrets: tuple[str, ...]) -> _Compiled:
    """Cached: one request's injected values repeat with the next one's."""
    forms: set[str] = set()
    anchors: list[bytes] = []
    for secret in secrets:
        if secret:
            forms |= spellings(secret)
            anchors.append(_anchor(secret).encode())
    ordered = sorted(forms, key=len, reverse=True)
    encoded = tuple(f.encode() for f in ordered)
    tail = max((len(b) for b in encoded), default=1) - 1
    shortest = min((len(f) for f in ordered), default=0)
    return _Compiled(tuple(ordered), encoded, tail, shortest, tuple(anchors))


class CredentialGuard:
    """Replaces the request's injected values (``secrets``) in header values and bodies."""

    __slots__ = ("_anchors", "_bytes", "_shortest", "_texts", "tail")

    def __init__(self, secrets: Iterable[str]) -> None:
        self._texts, self._bytes, self.tail, self._shortest, self._anchors = _compiled(tuple(secrets))

    def __bool__(self) -> bool:
        return bool(self._texts)

    def text(self, value: str) -> str:
        if len(value) < self._shortest:  # no spelling fits in it (a header value is usually short)
            return value
        for form in self._texts:
            if form in value:
                value = value.replace(form, MARK)
        return value

    def found_in(self, value: str) -> bool:
        return any(form in value for form in self._texts)

    def body(self, data: bytes) -> bytes:
        if len(data) < self._shortest:  # a spelling has at least as many bytes as characters
            return data
        for anchor in self._anchors:
            if anchor in data:
                break
        else:  # no secret's anchor, so no spelling of any secret (no secrets at all included)
            return data
        for form in self._bytes:
            if form in data:
                data = data.replace(form, _MARK)
        return data

    def stream(self) -> Scrubber:
        return Scrubber(self)


class Scrubber:
    """One streamed body: ``feed`` each chunk, then ``close``; what they return goes to the client."""

    __slots__ = ("_carry", "_guard")

    def __init__(self, guard: CredentialGuard) -> None:
        self._guard = guard
        self._carry = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self._guard.body(self._carry + chunk if self._carry else chunk)
        keep = self._guard.tail
        if keep <= 0:
            return data
        self._carry = data[-keep:]
        return data[:-keep]

    def close(self) -> bytes:
        data, self._carry = self._carry, b""
        return self._guard.body(data)
