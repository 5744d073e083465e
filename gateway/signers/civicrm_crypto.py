"""CiviCRM's sign keys and AuthX JWTs, byte for byte as CryptoRegistry/CryptoJwt with php-jwt 6 do them.

Two ways to read ``CIVICRM_SIGN_KEYS``: :func:`parse_sign_keys` reproduces the server (so the sandbox
verifies exactly what a real site would accept, quirks included), and :func:`signing_key_for_gateway`
is the strict reading the gateway signs with (it refuses what the server would silently mangle).
No function here puts key material into an exception message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

HMAC_ALGS: Mapping[str, str] = {"HS256": "sha256", "HS384": "sha384", "HS512": "sha512"}
PHP_JWT_ALGS = frozenset(
    {"ES384", "ES256", "ES256K", "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "EdDSA"}
)
_B64_ALPHABET = re.compile(rb"[^A-Za-z0-9+/]")
_TRY_NEXT_GROUP = ("unable to lookup correct key", "Signature verification failed")
_BEFORE_VALID = "Firebase\\JWT\\BeforeValidException"
_STRICT_B64 = re.compile(r"[A-Za-z0-9+/]{2,}={0,2}")
_PHP_NUMERIC = re.compile(r"^[ \t\n\r\v\f]*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?[ \t\n\r\v\f]*$")


class SignKeyError(ValueError):
    """A sign-keys string the server could not load, or the gateway refuses to sign with."""


class CryptoError(Exception):
    """What ``CryptoJwt::decode`` throws (a CryptoException): the token is not valid."""


class MalformedTokenError(Exception):
    """What escapes CryptoJwt uncaught in PHP (DomainException, TypeError): the server answers 500."""


class _UnexpectedValue(Exception):
    """php-jwt's UnexpectedValueException family; ``php_class`` names the PHP class for the message."""

    def __init__(self, message: str, php_class: str = "UnexpectedValueException") -> None:
        super().__init__(message)
        self.php_class = php_class


@dataclass(frozen=True, slots=True)
class SignKey:
    suite: str
    key: bytes = field(repr=False)
    kid: str
    weight: int

    @property
    def alg(self) -> str | None:
        """``strtoupper(substr(suite, 4))`` for ``jwt-*`` suites, else None (not a JWT key)."""
        if not self.suite.startswith("jwt-"):
            return None
        return _ascii_upper(self.suite[4:])


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def php_base64_decode(data: str | bytes) -> bytes:
    """PHP ``base64_decode`` in non-strict mode: skips foreign characters and ``=``, drops a dangling char."""
    raw = data.encode("latin-1", "replace") if isinstance(data, str) else data
    clean = _B64_ALPHABET.sub(b"", raw)
    if len(clean) % 4 == 1:
        clean = clean[:-1]
    return base64.b64decode(clean + b"=" * (-len(clean) % 4))


def php_urlsafe_b64decode(segment: str) -> bytes:
    """php-jwt ``urlsafeB64Decode``: ``-_`` to ``+/``, then the lenient decoder."""
    return php_base64_decode(segment.replace("-", "+").replace("_", "/"))


def hkdf_sha256(ikm: bytes) -> bytes:
    """PHP ``hash_hkdf('sha256', ikm)``: 32 bytes, empty salt (zero key) and info."""
    if not ikm:
        raise SignKeyError("hkdf-sha256 needs a non-empty secret")
    prk = hmac.new(b"\0" * 32, ikm, hashlib.sha256).digest()
    return hmac.new(prk, b"\x01", hashlib.sha256).digest()


def derive_kid(suite: str, key: bytes) -> str:
    """``base64url-nopad(sha1(suite . "\\0" . key))``, the id CryptoRegistry gives every key."""
    return b64url_encode(hashlib.sha1(suite.encode("utf-8") + b"\0" + key).digest())


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


def signing_key_for_gateway(expr: str) -> SignKey:
    """The key the gateway signs with: the first ``jwt-hs*`` entry, after a strict check of every entry.

    Refused: an empty entry, an entry without exactly three fields (a value containing ``:`` would be
    truncated by the server), an unknown kdf, an empty or non-canonical b64 value, a ``jwt-*`` suite that
    is not HS256/HS384/HS512, and a string with no ``jwt-*`` entry at all.
    """
    first: SignKey | None = None
    for position, entry in enumerate(expr.split(" "), start=1):
        parts = entry.split(":")
        if not entry:
            raise SignKeyError(f"entry #{position} is empty (separate entries with exactly one space)")
        if len(parts) != 3:
            raise SignKeyError(
                f"entry #{position} must be <suite>:<kdf>:<value> with no ':' inside the value "
                "(CiviCRM would silently truncate it at the first ':')"
            )
        suite, kdf, value = parts
        if kdf not in ("", "hkdf-sha256", "b64"):
            raise SignKeyError(f"entry #{position} has an unknown kdf (use hkdf-sha256 or b64)")
        if not value:
            raise SignKeyError(f"entry #{position} has an empty value")
        if kdf == "b64" and not _canonical_b64(value):
            raise SignKeyError(f"entry #{position} is not valid base64 for the b64 kdf")
        key = hkdf_sha256(value.encode("utf-8")) if kdf != "b64" else php_base64_decode(value)
        candidate = SignKey(suite=suite, key=key, kid=derive_kid(suite, key), weight=position - 1)
        if suite.startswith("jwt-") and candidate.alg not in HMAC_ALGS:
            raise SignKeyError(
                f"entry #{position} has a JWT suite the gateway cannot sign with (use jwt-hs256/384/512)"
            )
        if first is None and candidate.alg is not None:
            first = candidate
    if first is None:
        raise SignKeyError("no jwt-* entry (e.g. jwt-hs256:hkdf-sha256:<secret>); AuthX JWTs need one")
    return first


def _canonical_b64(value: str) -> bool:
    body = value.rstrip("=")
    return bool(_STRICT_B64.fullmatch(value)) and len(body) % 4 != 1 and len(value) - len(body) <= 2


def php_json_encode(value: Any) -> str:
    """``json_encode(value, JSON_UNESCAPED_SLASHES)``: compact, ASCII-escaped unicode, raw slashes."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True)


def mint_jwt(claims: Mapping[str, Any], key: SignKey) -> str:
    """``CryptoJwt::encode``: header exactly ``{"typ":"JWT","alg":...,"kid":...}``, claims in order."""
    alg = key.alg
    if alg is None or alg not in HMAC_ALGS:
        raise SignKeyError("this key cannot sign JWTs (needs a jwt-hs256/384/512 suite)")
    header = {"typ": "JWT", "alg": alg, "kid": key.kid}
    signing_input = (
        b64url_encode(php_json_encode(header).encode("ascii"))
        + "."
        + b64url_encode(php_json_encode(dict(claims)).encode("ascii"))
    )
    signature = hmac.new(key.key, signing_input.encode("ascii"), HMAC_ALGS[alg]).digest()
    return signing_input + "." + b64url_encode(signature)


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


def _ascii_upper(text: str) -> str:
    return "".join(chr(ord(c) - 32) if "a" <= c <= "z" else c for c in text)
