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


@lru_cache(maxsize=1024)
def _compiled(secrets: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[bytes, ...], int]:
    """The spellings of ``secrets``, longest first, as text and bytes, and the tail a stream keeps (cached:
    one request's injected values repeat with the next one's)."""
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms |= spellings(secret)
    ordered = sorted(forms, key=len, reverse=True)  # a longer spelling containing a shorter one first
    encoded = tuple(f.encode() for f in ordered)
    return tuple(ordered), encoded, max((len(b) for b in encoded), default=1) - 1


class CredentialGuard:
    """Replaces the request's injected values (``secrets``) in header values and bodies."""

    __slots__ = ("_bytes", "_texts", "tail")

    def __init__(self, secrets: Iterable[str]) -> None:
        self._texts, self._bytes, self.tail = _compiled(tuple(secrets))

    def __bool__(self) -> bool:
        return bool(self._texts)

    def text(self, value: str) -> str:
        for form in self._texts:
            if form in value:
                value = value.replace(form, MARK)
        return value

    def found_in(self, value: str) -> bool:
        return any(form in value for form in self._texts)

    def body(self, data: bytes) -> bytes:
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
