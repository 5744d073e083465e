"""CiviCRM's sign keys and AuthX JWTs minted byte for byte as CryptoRegistry/CryptoJwt with php-jwt 6 do them.

The gateway's side: :func:`signing_key_for_gateway` reads ``CIVICRM_SIGN_KEYS`` strictly (it refuses what
the server would silently mangle) and :func:`mint_jwt` signs. The server's side (its own reading of the
keys, token verification) is the sandbox's: gateway/sandbox/civicrm_jwt.py.
No function here puts key material into an exception message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

HMAC_ALGS: Mapping[str, str] = {"HS256": "sha256", "HS384": "sha384", "HS512": "sha512"}
_B64_ALPHABET = re.compile(rb"[^A-Za-z0-9+/]")
_STRICT_B64 = re.compile(r"[A-Za-z0-9+/]{2,}={0,2}")


class SignKeyError(ValueError):
    """A sign-keys string the server could not load, or the gateway refuses to sign with."""


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


def hkdf_sha256(ikm: bytes) -> bytes:
    """PHP ``hash_hkdf('sha256', ikm)``: 32 bytes, empty salt (zero key) and info."""
    if not ikm:
        raise SignKeyError("hkdf-sha256 needs a non-empty secret")
    prk = hmac.new(b"\0" * 32, ikm, hashlib.sha256).digest()
    return hmac.new(prk, b"\x01", hashlib.sha256).digest()


def derive_kid(suite: str, key: bytes) -> str:
    """``base64url-nopad(sha1(suite . "\\0" . key))``, the id CryptoRegistry gives every key."""
    return b64url_encode(hashlib.sha1(suite.encode("utf-8") + b"\0" + key).digest())


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


def _ascii_upper(text: str) -> str:
    return "".join(chr(ord(c) - 32) if "a" <= c <= "z" else c for c in text)
