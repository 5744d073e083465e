"""EspoCRM path encoding: what the server does to a request path before it signs or routes it.

EspoCRM reads the request path through slim/psr7, whose ``Uri::filterPath`` percent-encodes every
byte outside ``A-Za-z0-9 _ - . ~ : @ & = + $ , / ; %`` (upper-case hex) and a ``%`` that does not
start a ``%XX`` escape; existing escapes keep their case. The HMAC covers that filtered path, and the
router then ``rawurldecode``s it. Strings here are ``str``; bytes that are not UTF-8 travel as
``surrogateescape`` code points so that a path read off the wire keeps its exact bytes.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote_to_bytes

_NEEDS_FILTER = re.compile(r"[^A-Za-z0-9_\-.~:@&=+$,/;%]+|%(?![A-Fa-f0-9]{2})")
_KEPT_LITERALLY = "/:@&=+$,;~"
"""Besides ``A-Za-z0-9_.-~`` (always kept by ``quote``), the bytes ``filterPath`` leaves alone."""


def _percent_encode(match: re.Match[str]) -> str:
    return "".join(f"%{byte:02X}" for byte in match.group().encode("utf-8", "surrogateescape"))


def filter_path(path: str) -> str:
    """The path exactly as slim/psr7 ``Uri::filterPath`` re-encodes it (idempotent)."""
    if _NEEDS_FILTER.search(path) is None:
        return path
    return _NEEDS_FILTER.sub(_percent_encode, path)


def encode_decoded_path(path: str) -> str:
    """Encode a decoded path so that the server decodes it back to ``path``.

    ``/`` stays a separator, a literal ``%`` becomes ``%25``, everything ``filterPath`` would touch
    becomes upper-case ``%XX``; the result is a fixed point of :func:`filter_path`.
    """
    return quote(path, safe=_KEPT_LITERALLY, encoding="utf-8", errors="surrogateescape")


def rawurldecode(value: str) -> str:
    """PHP ``rawurldecode``: ``%XX`` (either case) becomes the byte, ``+`` and bad escapes stay."""
    if "%" not in value:
        return value
    return unquote_to_bytes(value.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")
