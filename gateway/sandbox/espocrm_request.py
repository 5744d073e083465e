"""The request as the sandbox EspoCRM's authentication reads it, the outcomes it gives, and the PHP
behaviours it depends on: lenient ``base64_decode``, ``trim``, string truthiness (``""`` and ``"0"``
are false), PSR-7 ``getHeaderLine`` and the SAPI's ``PHP_AUTH_USER``/``PHP_AUTH_PW``."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from multidict import CIMultiDictProxy

from gateway.sandbox.espocrm_config import EspoUser

AUTHORIZATION = "Espo-Authorization"
BY_TOKEN = "Espo-Authorization-By-Token"
ANOTHER_USER = "X-Another-User"
PHP_TRIMMED = " \t\n\r\0\x0b"
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")


@dataclass(frozen=True, slots=True)
class AuthRequest:
    method: str
    resource_path: str
    """The path after the API base path, as slim/psr7 ``filterPath`` leaves it."""
    headers: CIMultiDictProxy[str]
    cookies: Mapping[str, str]
    ip: str


@dataclass(frozen=True, slots=True)
class Session:
    user: EspoUser
    """The user the request runs as (the ``X-Another-User`` target, if any)."""
    token: str | None
    """The auth token ``App/user`` reports (only after an ``Espo-Authorization`` login)."""
    logged_in: EspoUser | None = None
    """The credential's own user, when it differs from ``user``."""


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    reason: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def truthy(value: str | bytes | None) -> bool:
    return value not in (None, "", "0", b"", b"0")


def header_line(headers: CIMultiDictProxy[str], name: str) -> str | None:
    """PSR-7 ``getHeaderLine``: every value joined with ``", "``; None when absent."""
    values = headers.getall(name, [])
    return ", ".join(values) if values else None


def php_base64_decode(value: str) -> bytes:
    """PHP's lenient ``base64_decode``: foreign characters and padding skipped, a lone tail dropped."""
    data = _NOT_BASE64.sub(b"", value.encode("utf-8", "surrogateescape"))
    if len(data) % 4 == 1:
        data = data[:-1]
    return base64.b64decode(data + b"=" * (-len(data) % 4))


def as_text(raw: bytes) -> str:
    """Bytes as PHP keeps them in a string: undecodable bytes survive the round trip."""
    return raw.decode("utf-8", "surrogateescape")


def split_credentials(encoded: str) -> tuple[str, str] | Refusal:
    decoded = as_text(php_base64_decode(encoded))
    if ":" not in decoded:
        return Refusal(400, "Auth: Bad authorization string provided.")
    username, password = decoded.split(":", 1)
    return username.strip(PHP_TRIMMED), password.strip(PHP_TRIMMED)


def php_auth(authorization: str | None) -> tuple[str, str] | None:
    """PHP_AUTH_USER / PHP_AUTH_PW as the SAPI derives them from ``Authorization: Basic``."""
    if authorization is None or authorization[:6].lower() != "basic ":
        return None
    decoded = as_text(php_base64_decode(authorization[6:]))
    if ":" not in decoded:
        return None
    username, password = decoded.split(":", 1)
    return username, password
