"""Request ids: accept a well-formed client ``X-Request-ID``, otherwise make a fresh one."""

from __future__ import annotations

import os
import re
from typing import Final

HEADER: Final = "X-Request-ID"
_ACCEPTABLE: Final = re.compile(r"[A-Za-z0-9._:-]{8,128}")
_ID_BYTES: Final = 16
_POOL_BYTES: Final = 4096


class _Pool:
    """Random bytes from ``os.urandom`` a page at a time, handed out once each: one system call per 256
    ids instead of one per id. Emptied in a forked child, so workers never share ids."""

    __slots__ = ("at", "data")

    def __init__(self) -> None:
        self.data = b""
        self.at = 0

    def take(self) -> bytes:
        at = self.at
        if at + _ID_BYTES > len(self.data):
            self.data, at = os.urandom(_POOL_BYTES), 0
        self.at = at + _ID_BYTES
        return self.data[at : at + _ID_BYTES]

    def empty(self) -> None:
        self.data, self.at = b"", 0


_POOL = _Pool()
os.register_at_fork(after_in_child=_POOL.empty)


def generate() -> str:
    """A fresh 128-bit random id as 32 lowercase hex characters (as ``secrets.token_hex(16)``)."""
    return _POOL.take().hex()


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
