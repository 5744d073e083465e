"""Request ids: accept a well-formed client ``X-Request-ID``, otherwise make a fresh one."""

from __future__ import annotations

import re
import secrets
from typing import Final

HEADER: Final = "X-Request-ID"
_ACCEPTABLE: Final = re.compile(r"[A-Za-z0-9._:-]{8,128}")


def generate() -> str:
    """A fresh 128-bit random id as 32 lowercase hex characters."""
    return secrets.token_hex(16)


def accept_or_generate(value: str | None) -> str:
    """The client's id when it is 8..128 characters of ``[A-Za-z0-9._:-]``, else a generated one.

    Anything else (spaces, quotes, newlines, an over-long value) is dropped, so a request id can never
    smuggle a header or a log line; a value shaped like a JWT is dropped too, so a token pasted into
    the wrong header never reaches the access log.
    """
    if value is None or not 8 <= len(value) <= 128:
        return generate()
    if not _ACCEPTABLE.fullmatch(value) or _looks_like_jwt(value):
        return generate()
    return value


def _looks_like_jwt(value: str) -> bool:
    return value.startswith("eyJ") and value.count(".") >= 2
