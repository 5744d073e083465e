"""A refusal carried through nginx: ``auth_request`` only understands 2xx, 401 and 403 and drops the
body, so the decision answers 401/403 with the whole refusal encoded in ``X-Crm-Denial``; the generated
nginx config hands that value back to the gateway's denial endpoint, which replays it to the client.

The value is base64url (no padding) of compact JSON ``{"s": status, "t": content type, "h": [[name,
value], ...], "b": base64 body}``. It holds nothing the client would not see anyway.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from gateway.errors import BadRequest

MAX_ENCODED = 12 * 1024
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}")
_UNSAFE = frozenset("\r\n\0")


@dataclass(frozen=True, slots=True)
class Denial:
    status: int
    content_type: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def auth_request_status(self) -> int:
        """What nginx's auth_request is told: 401 keeps its meaning, everything else is 403."""
        return 401 if self.status == 401 else 403


def encode(denial: Denial) -> str:
    payload = {
        "s": denial.status,
        "t": denial.content_type,
        "h": [list(pair) for pair in denial.headers],
        "b": base64.b64encode(denial.body).decode("ascii"),
    }
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode(value: str) -> Denial:
    """The refusal back; BadRequest(bad-denial) for anything the gateway could not have produced."""
    if not value or len(value) > MAX_ENCODED:
        raise _bad()
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        payload = json.loads(raw.decode("ascii"))
        body = base64.b64decode(payload["b"], validate=True)
        return Denial(
            status=_status(payload["s"]),
            content_type=_text(payload["t"]),
            headers=tuple(_header(item) for item in payload["h"]),
            body=body,
        )
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise _bad() from None


def _bad() -> BadRequest:
    return BadRequest("the front proxy sent no usable refusal", reason="bad-denial")


def _status(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 400 <= value <= 599:
        raise ValueError("status")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not _UNSAFE.isdisjoint(value):
        raise ValueError("text")
    return value


def _header(item: Any) -> tuple[str, str]:
    if not isinstance(item, list) or len(item) != 2:
        raise ValueError("header")
    name, value = _text(item[0]), _text(item[1])
    if not _HEADER_NAME.fullmatch(name):
        raise ValueError("header name")
    return name, value
