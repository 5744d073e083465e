"""One JWT, step by step: unverified structure, signature (pyjwt), claims (by the injected clock), Principal.

Every failure is an AuthenticationError with a stable ``reason`` and a short client-safe message.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from jwt import PyJWS
from jwt.exceptions import DecodeError, InvalidAlgorithmError, InvalidSignatureError, PyJWTError

from gateway.auth.keys import SUPPORTED_ALGORITHMS, VerificationKey
from gateway.auth.settings import AuthSettings, IssuerSettings
from gateway.errors import AuthenticationError
from gateway.principal import Principal
from gateway.secrets import Secret

_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_JWS = PyJWS(algorithms=sorted(SUPPORTED_ALGORITHMS))


MAX_TIME = 2**53
"""The largest time claim accepted (JSON's exact integers: about 285 million years)."""


def _fail(reason: str, message: str) -> AuthenticationError:
    return AuthenticationError(message, reason=reason)


@dataclass(frozen=True, slots=True)
class UnverifiedToken:
    """Header and claims read before any signature check: use them only to pick issuer and key."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]

    @property
    def alg(self) -> str:
        return str(self.header["alg"])

    @property
    def kid(self) -> str | None:
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise _fail("malformed-token", f"token {what} is not JSON") from None
    if not isinstance(value, dict):
        raise _fail("malformed-token", f"token {what} is not a JSON object")
    return value


def _json_segment(segment: str, what: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise _fail("malformed-token", f"token {what} is not base64url") from None
    return _json_object(raw, what)


def parse_unverified(token: str) -> UnverifiedToken:
    """Three base64url segments, JSON-object header and payload, a string ``alg``, no ``crit``."""
    if not _COMPACT.fullmatch(token):
        raise _fail("malformed-token", "token is not a compact JWS (three base64url segments)")
    header_segment, payload_segment, _ = token.split(".")
    header = _json_segment(header_segment, "header")
    claims = _json_segment(payload_segment, "payload")
    if not isinstance(header.get("alg"), str):
        raise _fail("malformed-token", "token header has no algorithm")
    if "kid" in header and not isinstance(header["kid"], str):
        raise _fail("malformed-token", "token header kid is not a string")
    if "crit" in header or header.get("b64", True) is not True:
        raise _fail("malformed-token", "token header uses unsupported extensions")
    return UnverifiedToken(header, claims)


def verify_signature(token: str, algorithm: str, key: VerificationKey | Secret) -> dict[str, Any]:
    """Check the signature with exactly ``algorithm`` and ``key``; return the verified claims."""
    material: Any = key.reveal().encode("utf-8") if isinstance(key, Secret) else key.key
    try:
        decoded = _JWS.decode_complete(token, key=material, algorithms=[algorithm])
    except InvalidSignatureError:
        raise _fail("bad-signature", "token signature is not valid") from None
    except InvalidAlgorithmError:
        raise _fail("unsupported-algorithm", "token algorithm is not accepted") from None
    except DecodeError:
        raise _fail("malformed-token", "token is not a well-formed JWS") from None
    except PyJWTError:
        raise _fail("bad-signature", "token signature is not valid") from None
    return _json_object(decoded["payload"], "payload")


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail("invalid-claim", f"claim {name} is not a number")
    if not -MAX_TIME <= value <= MAX_TIME:  # also NaN; and before float(), which overflows on 10**400
        raise _fail("invalid-claim", f"claim {name} is out of range")
    return float(value)


def _check_audience(claims: Mapping[str, Any], audiences: tuple[str, ...]) -> None:
    aud = claims.get("aud")
    if aud is None:
        raise _fail("missing-claim", "token has no aud claim")
    values = [aud] if isinstance(aud, str) else aud
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _fail("invalid-claim", "claim aud is not a string or a list of strings")
    if not any(v in audiences for v in values):
        raise _fail("wrong-audience", "token is not meant for this gateway (aud)")


def check_claims(
    claims: Mapping[str, Any], issuer: IssuerSettings, settings: AuthSettings, now: float
) -> None:
    """Verified claims against the issuer and settings at time ``now`` (exp is always required)."""
    for name in ("exp", *settings.required_claims):
        if claims.get(name) is None:
            raise _fail("missing-claim", f"token has no {name} claim")
    if claims.get("iss") != issuer.issuer:
        raise _fail("wrong-issuer", "token issuer is not accepted")
    _check_audience(claims, issuer.audiences)
    leeway = settings.leeway_seconds
    exp = _number(claims, "exp")
    nbf = _number(claims, "nbf")
    iat = _number(claims, "iat")
    if exp is None:
        raise _fail("missing-claim", "token has no exp claim")
    if now >= exp + leeway:
        raise _fail("token-expired", "token has expired")
    if nbf is not None and nbf > now + leeway:
        raise _fail("token-not-yet-valid", "token is not valid yet (nbf)")
    if iat is not None and iat > now + leeway:
        raise _fail("token-not-yet-valid", "token was issued in the future (iat)")
    lifetime = exp - (iat if iat is not None else now)
    if lifetime > settings.max_lifetime_seconds:
        raise _fail("lifetime-too-long", "token lifetime is longer than allowed")
    subject = claims.get(settings.principal_claim)
    if subject is None:
        raise _fail("missing-claim", f"token has no {settings.principal_claim} claim")
    if not isinstance(subject, str) or not subject.strip():
        raise _fail("invalid-claim", f"claim {settings.principal_claim} is not a non-empty string")


def _lookup(claims: Mapping[str, Any], name: str) -> Any:
    """``name`` as a claim, else as a dotted path into nested objects (``realm_access.roles``)."""
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _words(claims: Mapping[str, Any], name: str) -> frozenset[str]:
    value = _lookup(claims, name)
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return frozenset(v for v in value if v)
    raise _fail("invalid-claim", f"claim {name} is not a string or a list of strings")


def build_principal(claims: Mapping[str, Any], issuer: IssuerSettings, settings: AuthSettings) -> Principal:
    roles: frozenset[str] = frozenset()
    for name in settings.roles_claims:
        roles |= _words(claims, name)
    exp = _number(claims, "exp")
    return Principal(
        subject=str(claims[settings.principal_claim]),
        issuer=issuer.issuer,
        roles=roles,
        scopes=_words(claims, settings.scopes_claim),
        claims=MappingProxyType(dict(claims)),
        expires_at=exp,
    )
