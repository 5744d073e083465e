"""One canonical reading of a request path, shared by every dialect.

``canonicalise`` decodes a raw (percent-encoded) path exactly once and refuses any path whose
meaning could differ between the gateway and the upstream; ``encode_path`` turns the canonical
path back into an encoded one that the upstream decodes to the very same string.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from gateway.errors import BadRequest

AMBIGUOUS = "ambiguous-path"

UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
SUB_DELIMS = "!$&'()*+,;="
PATH_SAFE = "/" + SUB_DELIMS
"""Kept raw by default: ``/``, RFC 3986 unreserved characters (always) and sub-delims."""
SLIM_SAFE = "/:@&=+$,;"
"""What slim/psr7 ``Uri::filterPath`` keeps raw besides unreserved characters (EspoCRM): pass as
``safe=`` when the forwarded path must survive that filter byte for byte (``( ) ! * '`` get encoded)."""

MEMO_PATH_LIMIT = 512
"""Paths up to this length are remembered (a few thousand, least recently used first out): integrations
repeat the same few; a longer path is decoded every time."""
_HEX = "0123456789abcdefABCDEF"
_ENCODED_SEPARATORS = ("%2f", "%5c")


def _refuse(why: str) -> BadRequest:
    return BadRequest(f"Ambiguous request path: {why}", reason=AMBIGUOUS)


def _percent_decode(raw: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "%":
            pair = raw[i + 1 : i + 3]
            if len(pair) != 2 or pair[0] not in _HEX or pair[1] not in _HEX:
                raise _refuse("malformed percent escape")
            out.append(int(pair, 16))
            i += 3
            continue
        try:
            out.extend(ch.encode("utf-8"))
        except UnicodeEncodeError:
            raise _refuse("invalid UTF-8") from None
        i += 1
    return bytes(out)


def _check_raw(raw: str) -> None:
    lowered = raw.lower()
    if any(sep in lowered for sep in _ENCODED_SEPARATORS):
        raise _refuse("encoded slash or backslash")
    if "\\" in raw:
        raise _refuse("backslash")


def _check_decoded(path: str) -> None:
    if any(unicodedata.category(ch) == "Cc" for ch in path):
        raise _refuse("control character")
    if not path.startswith("/"):
        raise _refuse("path must start with '/'")
    segments = path[1:].split("/")
    for index, segment in enumerate(segments):
        if segment in (".", ".."):
            raise _refuse("dot segment")
        if segment == "" and index != len(segments) - 1:
            raise _refuse("empty segment")


def canonicalise(raw_path: str) -> str:
    """The decoded path, after refusing every ambiguous form with ``BadRequest(ambiguous-path)``.

    An empty path means the upstream root, ``/``. One trailing slash is kept (it is part of the
    path); ``.``/``..`` segments (raw or encoded), empty segments, encoded ``/`` or ``\\``, raw
    backslashes, control characters, bad escapes and invalid UTF-8 are refused. A pure function of
    ``raw_path``: short paths are memoised (a refusal is not, it is raised again each time).
    """
    if len(raw_path) <= MEMO_PATH_LIMIT:
        return _remembered(raw_path)
    return _canonicalise(raw_path)


@lru_cache(maxsize=4096)
def _remembered(raw_path: str) -> str:
    return _canonicalise(raw_path)


def _canonicalise(raw_path: str) -> str:
    if raw_path == "":
        return "/"
    _check_raw(raw_path)
    try:
        decoded = _percent_decode(raw_path).decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise _refuse("invalid UTF-8") from None
    _check_decoded(decoded)
    return decoded


def encode_path(path: str, *, safe: str = PATH_SAFE) -> str:
    """Percent-encode a canonical path (UTF-8, upper-case hex). Unreserved characters and
    ``safe`` stay raw; ``%`` is always encoded, so decoding once gives ``path`` back."""
    keep = frozenset(UNRESERVED + safe) - {"%"}
    parts: list[str] = []
    for ch in path:
        if ch in keep:
            parts.append(ch)
        else:
            parts.extend(f"%{byte:02X}" for byte in ch.encode("utf-8"))
    return "".join(parts)
