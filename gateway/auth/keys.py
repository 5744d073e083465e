"""Public verification keys: which algorithm each may verify, parsed from PEM, JWK or a JWKS document.

Only asymmetric public keys live here. HMAC secrets are handled apart (``hs256_secrets``), so a public
key can never be used as an HMAC secret. Error messages describe the problem, never the key material.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt import PyJWK
from jwt.exceptions import PyJWTError

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey

ASYMMETRIC_ALGORITHMS: Mapping[str, tuple[str, str | None]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
    "EdDSA": ("OKP", None),
}
"""Algorithm name -> (key family, required curve)."""

HMAC_ALGORITHMS: frozenset[str] = frozenset({"HS256", "HS384", "HS512"})
SUPPORTED_ALGORITHMS: frozenset[str] = frozenset(ASYMMETRIC_ALGORITHMS) | HMAC_ALGORITHMS
MIN_RSA_BITS = 2048

_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "k"})


class KeyFormatError(ValueError):
    """A key that cannot be used; the message is safe to show (it never contains key material)."""


@dataclass(frozen=True, slots=True)
class VerificationKey:
    kid: str | None
    family: str
    curve: str | None
    key: PublicKey
    alg: str | None = None
    """The JWK ``alg`` member: when set, the key verifies only that algorithm."""

    def supports(self, algorithm: str) -> bool:
        wanted = ASYMMETRIC_ALGORITHMS.get(algorithm)
        if wanted is None or (self.alg is not None and self.alg != algorithm):
            return False
        family, curve = wanted
        return self.family == family and (curve is None or self.curve == curve)

    def describe(self) -> str:
        kind = f"{self.family} {self.curve}" if self.curve else self.family
        return f"{kind} key" + (f" kid={self.kid!r}" if self.kid else "")


def from_public_key(public: Any, kid: str | None, alg: str | None = None) -> VerificationKey:
    if isinstance(public, rsa.RSAPublicKey):
        if public.key_size < MIN_RSA_BITS:
            raise KeyFormatError(f"RSA key is {public.key_size} bits; at least {MIN_RSA_BITS} are required")
        return VerificationKey(kid, "RSA", None, public, alg)
    if isinstance(public, ec.EllipticCurvePublicKey):
        curve = _CURVES.get(public.curve.name)
        if curve is None:
            raise KeyFormatError(f"unsupported elliptic curve {public.curve.name}")
        return VerificationKey(kid, "EC", curve, public, alg)
    if isinstance(public, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        curve = "Ed25519" if isinstance(public, ed25519.Ed25519PublicKey) else "Ed448"
        return VerificationKey(kid, "OKP", curve, public, alg)
    raise KeyFormatError(f"unsupported key type {type(public).__name__}")


def parse_pem(text: str, kid: str | None = None) -> VerificationKey:
    data = text.strip().encode("ascii", "replace")
    if b"-----BEGIN CERTIFICATE-----" in data:
        try:
            public: Any = x509.load_pem_x509_certificate(data).public_key()
        except ValueError:
            raise KeyFormatError("not a readable PEM certificate") from None
        return from_public_key(public, kid)
    if b"PRIVATE KEY-----" in data:
        raise KeyFormatError("this is a private key; configure the public key instead")
    try:
        public = load_pem_public_key(data)
    except (ValueError, TypeError):
        raise KeyFormatError("not a readable PEM public key") from None
    return from_public_key(public, kid)


def parse_jwk(jwk: Mapping[str, Any], kid: str | None = None) -> VerificationKey:
    """A public JWK (RSA, EC or OKP). ``kid`` overrides the JWK's own ``kid``."""
    kty = jwk.get("kty")
    if kty == "oct":
        raise KeyFormatError("symmetric (oct) JWK; HMAC secrets belong in hs256_secrets")
    if _PRIVATE_JWK_MEMBERS & set(jwk):
        raise KeyFormatError("JWK contains private key members; configure the public key only")
    own_kid = jwk.get("kid")
    if own_kid is not None and not isinstance(own_kid, str):
        raise KeyFormatError("JWK kid must be a string")
    alg = jwk.get("alg")
    if alg is not None and alg not in ASYMMETRIC_ALGORITHMS:
        raise KeyFormatError("JWK alg is not a supported signature algorithm")
    try:
        parsed = PyJWK(dict(jwk))
    except (PyJWTError, ValueError, TypeError, KeyError):
        raise KeyFormatError(f"not a usable JWK (kty={kty!r})") from None
    return from_public_key(parsed.key, kid if kid is not None else own_kid, alg)


def parse_key_text(text: str, kid: str | None = None) -> VerificationKey:
    """A static key given as PEM text or as JWK JSON text."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            jwk = json.loads(stripped)
        except ValueError:
            raise KeyFormatError("not valid JWK JSON") from None
        if not isinstance(jwk, dict):
            raise KeyFormatError("JWK JSON must be an object")
        return parse_jwk(jwk, kid)
    if stripped.startswith("-----BEGIN"):
        return parse_pem(stripped, kid)
    raise KeyFormatError("expected PEM text or JWK JSON")


def parse_jwks(document: Any) -> list[VerificationKey]:
    """Usable signature keys of a JWKS document; other keys (``use: enc``, oct, weak, unknown) are skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeyFormatError("JWKS document must be an object with a 'keys' list")
    keys: list[VerificationKey] = []
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
            continue
        try:
            keys.append(parse_jwk(jwk))
        except KeyFormatError:
            continue
    return keys


def select_key(keys: Iterable[VerificationKey], kid: str | None, algorithm: str) -> VerificationKey | None:
    """The key for a token: same ``kid``; else the single kid-less key; without a kid, the only key."""
    usable = [k for k in keys if k.supports(algorithm)]
    if kid is None:
        return usable[0] if len(usable) == 1 else None
    for key in usable:
        if key.kid == kid:
            return key
    kidless = [k for k in usable if k.kid is None]
    return kidless[0] if len(kidless) == 1 else None
