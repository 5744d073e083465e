"""Development tokens: a local key pair and JWTs signed with it (``crm-gateway token``, the demo, tests).

Never used to verify anything; production tokens come from the organisation's identity provider.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from gateway.auth.keys import ASYMMETRIC_ALGORITHMS, HMAC_ALGORITHMS

_EC_CURVES: Mapping[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
}
_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}


def mint_token(
    private_key_pem: str,
    *,
    issuer: str,
    audience: str,
    subject: str,
    roles: Sequence[str] = (),
    kid: str | None = None,
    algorithm: str = "RS256",
    lifetime_seconds: int = 3600,
    now: float | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """A signed JWT with iss, aud, sub, iat, nbf, exp, jti (and roles when given); ``extra`` adds or
    overrides claims (``None`` removes one). For HS* algorithms ``private_key_pem`` is the shared secret."""
    if algorithm not in ASYMMETRIC_ALGORITHMS and algorithm not in HMAC_ALGORITHMS:
        raise ValueError(f"unsupported algorithm {algorithm!r}")
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime_seconds,
        "jti": secrets.token_urlsafe(12),
    }
    if roles:
        claims["roles"] = list(roles)
    for name, value in (extra or {}).items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    key: Any = private_key_pem.encode("utf-8")
    if algorithm not in HMAC_ALGORITHMS:
        key = _load_private_key(private_key_pem)
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


@functools.lru_cache(maxsize=16)
def _load_private_key(pem: str) -> Any:
    """Parsing an RSA private key is slow (consistency checks): keep the last few."""
    return serialization.load_pem_private_key(pem.encode("utf-8"), password=None)


def generate_dev_key(algorithm: str = "RS256") -> tuple[str, dict[str, Any]]:
    """A new private key (PKCS#8 PEM) and its public JWK with ``kid`` (RFC 7638 thumbprint),
    ``alg`` and ``use``."""
    family, curve = ASYMMETRIC_ALGORITHMS.get(algorithm) or (None, None)
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    if family == "RSA":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif family == "EC" and curve is not None:
        private = ec.generate_private_key(_EC_CURVES[curve])
    elif family == "OKP":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(f"no key pair for algorithm {algorithm!r}")
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    public_jwk = _public_jwk_dict(private)
    public_jwk["kid"] = jwk_thumbprint(public_jwk)
    public_jwk["alg"] = algorithm
    public_jwk["use"] = "sig"
    return pem, public_jwk


def _public_jwk_dict(
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey,
) -> dict[str, Any]:
    public = private.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        return jwt.algorithms.RSAAlgorithm.to_jwk(public, as_dict=True)
    if isinstance(public, ec.EllipticCurvePublicKey):
        return jwt.algorithms.ECAlgorithm.to_jwk(public, as_dict=True)
    return jwt.algorithms.OKPAlgorithm.to_jwk(public, as_dict=True)


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint, base64url without padding."""
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode("ascii")
