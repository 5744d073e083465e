"""The server side of CiviCRM's AuthX JWTs, for the sandbox: ``CIVICRM_SIGN_KEYS`` read as the server reads
it (quirks included), and tokens verified as ``CryptoJwt::decode`` with php-jwt 6 does. The gateway only
signs (gateway/signers/civicrm_crypto.py). No function here puts key material into an exception message.
"""

from __future__ import annotations

import hmac
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gateway.signers.civicrm_crypto import (
    HMAC_ALGS,
    SignKey,
    SignKeyError,
    derive_kid,
    hkdf_sha256,
    php_base64_decode,
)

PHP_JWT_ALGS = frozenset(
    {"ES384", "ES256", "ES256K", "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "EdDSA"}
)

_TRY_NEXT_GROUP = ("unable to lookup correct key", "Signature verification failed")

_BEFORE_VALID = "Firebase\\JWT\\BeforeValidException"

_PHP_NUMERIC = re.compile(r"^[ \t\n\r\v\f]*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?[ \t\n\r\v\f]*$")


class CryptoError(Exception):
    """What ``CryptoJwt::decode`` throws (a CryptoException): the token is not valid."""


class MalformedTokenError(Exception):
    """What escapes CryptoJwt uncaught in PHP (DomainException, TypeError): the server answers 500."""


class _UnexpectedValue(Exception):
    """php-jwt's UnexpectedValueException family; ``php_class`` names the PHP class for the message."""

    def __init__(self, message: str, php_class: str = "UnexpectedValueException") -> None:
        super().__init__(message)
        self.php_class = php_class


def php_urlsafe_b64decode(segment: str) -> bytes:
    """php-jwt ``urlsafeB64Decode``: ``-_`` to ``+/``, then the lenient decoder."""
    return php_base64_decode(segment.replace("-", "+").replace("_", "/"))


def parse_sign_keys(expr: str) -> list[SignKey]:
    """Every SIGN key as the server loads it, ordered by weight (its position).

    Replicates ``parseKey``: empty suite means ``aes-cbc``, empty kdf ``hkdf-sha256``, and the entry is
    split on every colon so only the third field is the value. Entries the server cannot load at all
    (unknown kdf, empty key) raise SignKeyError: on a real site they break every request.
    """
    by_kid: dict[str, SignKey] = {}
    for weight, entry in enumerate(expr.split(" ")):
        parts = entry.split(":")
        suite = parts[0] or "aes-cbc"
        kdf = parts[1] if len(parts) > 1 else None
        value = parts[2] if len(parts) > 2 else ""
        key = _apply_kdf("hkdf-sha256" if kdf == "" else kdf, value, weight)
        if not key:
            raise SignKeyError(f"sign key entry #{weight + 1} derives an empty key")
        kid = derive_kid(suite, key)
        by_kid[kid] = SignKey(suite=suite, key=key, kid=kid, weight=weight)
    return sorted(by_kid.values(), key=lambda k: k.weight)


def _apply_kdf(kdf: str | None, value: str, weight: int) -> bytes:
    if kdf == "hkdf-sha256":
        return hkdf_sha256(value.encode("utf-8"))
    if kdf == "b64":
        return php_base64_decode(value)
    raise SignKeyError(f"sign key entry #{weight + 1} has an unrecognized kdf")


def decode_jwt(token: str, keys: list[SignKey], now: int) -> dict[str, Any]:
    """``CryptoJwt::decode(token, 'SIGN')``: the verified claims.

    Keys are grouped by alg (in weight order) and php-jwt is tried per group; a kid-lookup or signature
    failure moves on to the next group, any other problem is final. Raises CryptoError for an invalid
    token (message as the server's CryptoException) and MalformedTokenError where PHP would crash.
    """
    groups: dict[str, dict[str, SignKey]] = {}
    for key in keys:
        if key.alg is not None:
            groups.setdefault(key.alg, {})[key.kid] = key
    for alg, keymap in groups.items():
        try:
            return _php_jwt_decode(token, alg, keymap, now)
        except _UnexpectedValue as exc:
            message = str(exc)
            if not any(part in message for part in _TRY_NEXT_GROUP):
                raise CryptoError(f"{exc.php_class}: {message}") from None
    raise CryptoError("Signature verification failed")


def _php_jwt_decode(token: str, alg: str, keymap: Mapping[str, SignKey], now: int) -> dict[str, Any]:
    segments = token.split(".")
    if len(segments) != 3:
        raise _UnexpectedValue("Wrong number of segments")
    head_b64, body_b64, sig_b64 = segments
    header = _php_json_decode(php_urlsafe_b64decode(head_b64))
    if header is None:
        raise _UnexpectedValue("Invalid header encoding")
    payload = _php_json_decode(php_urlsafe_b64decode(body_b64))
    if payload is None:
        raise _UnexpectedValue("Invalid claims encoding")
    if isinstance(payload, list):
        payload = {str(i): v for i, v in enumerate(payload)}
    if not isinstance(payload, dict):
        raise _UnexpectedValue("Payload must be a JSON object")
    signature = php_urlsafe_b64decode(sig_b64)
    header_alg = header.get("alg") if isinstance(header, dict) else None
    if _php_empty(header_alg):
        raise _UnexpectedValue("Empty algorithm")
    if isinstance(header_alg, list | dict):
        raise MalformedTokenError("illegal offset type for alg")
    if not isinstance(header_alg, str) or header_alg not in PHP_JWT_ALGS:
        raise _UnexpectedValue("Algorithm not supported")
    key = _lookup_key(keymap, header.get("kid") if isinstance(header, dict) else None, "kid" in header)
    if not hmac.compare_digest(alg.encode(), header_alg.encode()):
        raise _UnexpectedValue("Incorrect key for this algorithm")
    if alg not in HMAC_ALGS:
        raise MalformedTokenError("non-HMAC algorithm with a symmetric key")
    expected = hmac.new(key.key, f"{head_b64}.{body_b64}".encode(), HMAC_ALGS[alg]).digest()
    if not hmac.compare_digest(expected, signature):
        raise _UnexpectedValue("Signature verification failed", "Firebase\\JWT\\SignatureInvalidException")
    _check_times(payload, now)
    return payload


def _lookup_key(keymap: Mapping[str, SignKey], kid: Any, present: bool) -> SignKey:
    if isinstance(kid, list | dict):
        raise MalformedTokenError("kid is not a string")
    kid_text = None if not present or kid is None else _php_string(kid)
    if kid_text is None or kid_text == "":
        raise _UnexpectedValue('"kid" empty, unable to lookup correct key')
    if kid_text not in keymap:
        raise _UnexpectedValue('"kid" invalid, unable to lookup correct key')
    return keymap[kid_text]


def _check_times(payload: Mapping[str, Any], now: int) -> None:
    nbf, iat, exp = payload.get("nbf"), payload.get("iat"), payload.get("exp")
    if nbf is not None and _php_floor(nbf) > now:
        raise _UnexpectedValue(f"Cannot handle token with nbf prior to {_iso8601(nbf)}", _BEFORE_VALID)
    if nbf is None and iat is not None and _php_floor(iat) > now:
        raise _UnexpectedValue(f"Cannot handle token with iat prior to {_iso8601(iat)}", _BEFORE_VALID)
    if exp is not None and _php_ge(now, exp):
        raise _UnexpectedValue("Expired token", "Firebase\\JWT\\ExpiredException")


def _iso8601(value: Any) -> str:
    """PHP ``date(DateTime::ISO8601, floor(value))`` on a UTC server."""
    try:
        moment = datetime.fromtimestamp(_php_floor(value), tz=UTC)
    except (OverflowError, OSError, ValueError):
        return "a later date"
    return moment.strftime("%Y-%m-%dT%H:%M:%S+0000")


def _php_json_decode(raw: bytes) -> Any:
    """php-jwt ``jsonDecode``: invalid JSON is a DomainException (uncaught: HTTP 500)."""
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError):
        raise MalformedTokenError("invalid JSON in a token segment") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _php_empty(value: Any) -> bool:
    if isinstance(value, list | dict):
        return not value
    if isinstance(value, int | float):
        return value == 0
    return value is None or value in ("", "0")


def _php_string(value: Any) -> str:
    if value is True:
        return "1"
    if value is False:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _php_floor(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(math.floor(value))
    if isinstance(value, str) and _PHP_NUMERIC.match(value):
        return float(math.floor(float(value)))
    raise MalformedTokenError("time claim is not a number")


def _php_ge(now: int, value: Any) -> bool:
    """PHP 8 ``$now >= $value`` for a decoded JSON value."""
    if isinstance(value, bool):
        return bool(now) >= value
    if isinstance(value, int | float):
        return now >= value
    if isinstance(value, str):
        if _PHP_NUMERIC.match(value):
            return now >= float(value)
        return str(now) >= value
    return False
