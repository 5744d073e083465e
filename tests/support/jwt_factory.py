"""Test helpers for gateway JWTs: key pairs, JWKS documents, signed or hand-forged tokens, a JWKS server.

    key = make_key("RS256")                      # cached per (algorithm, index): RSA generation is slow
    token = sign(key, claims(sub="svc-newsletter", roles=["newsletter"]))
    settings = issuer_settings(jwks_url=str(server.url))

    jwks_server = JwksServer(key)                # counts requests; set .status or .keys to simulate an IdP
    server = await aiohttp_server(jwks_server.app())
    url = str(server.make_url("/jwks"))

Defaults: issuer ``ISSUER``, audience ``AUDIENCE``, ``now=time.time()``, 5 minute lifetime.
"""

from __future__ import annotations

import base64
import functools
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization

from gateway.auth.settings import AuthSettings, IssuerSettings
from gateway.auth.token_mint import generate_dev_key

ISSUER = "https://idp.test/realms/crm"
AUDIENCE = "crm-gateway"


@dataclass(frozen=True)
class SigningKey:
    algorithm: str
    private_pem: str
    jwk: dict[str, Any]
    """The public JWK, with ``kid``, ``alg`` and ``use``."""

    @property
    def kid(self) -> str:
        return str(self.jwk["kid"])

    @property
    def private_key(self) -> Any:
        return _load_private(self.private_pem)

    @property
    def public_pem(self) -> str:
        pem: bytes = self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem.decode()


@functools.cache
def _load_private(pem: str) -> Any:
    return serialization.load_pem_private_key(pem.encode(), password=None)


@functools.cache
def make_key(algorithm: str = "RS256", index: int = 0) -> SigningKey:
    """A key pair for ``algorithm`` (RS*/PS*, ES256/384/512, EdDSA); ``index`` gives distinct keys."""
    pem, jwk = generate_dev_key(algorithm)
    return SigningKey(algorithm, pem, jwk)


def jwks(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [dict(k.jwk) for k in keys]}


def claims(*, now: float | None = None, lifetime: float = 300, **overrides: Any) -> dict[str, Any]:
    """Valid claims (iss, aud, sub, iat, nbf, exp); an override of ``None`` removes that claim."""
    issued = int(time.time() if now is None else now)
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "iat": issued,
        "nbf": issued,
        "exp": int(issued + lifetime),
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


_DEFAULT: Any = object()


def sign(
    key: SigningKey, payload: dict[str, Any], *, kid: Any = _DEFAULT, headers: dict[str, Any] | None = None
) -> str:
    """Sign with ``key`` (its algorithm); ``kid`` defaults to the key's, ``None`` leaves it out."""
    header = dict(headers or {})
    chosen = key.kid if kid is _DEFAULT else kid
    if chosen is not None:
        header["kid"] = chosen
    return jwt.encode(payload, key.private_key, algorithm=key.algorithm, headers=header)


def sign_hmac(
    secret: bytes | str,
    payload: dict[str, Any],
    *,
    algorithm: str = "HS256",
    headers: dict[str, Any] | None = None,
) -> str:
    """HMAC-sign with any bytes as the secret (also a public key PEM, for the confusion attack)."""
    raw = secret.encode() if isinstance(secret, str) else secret
    header = {"alg": algorithm, "typ": "JWT", **(headers or {})}
    digest = {"HS256": "sha256", "HS384": "sha384", "HS512": "sha512"}[algorithm]
    signing_input = f"{b64url(header)}.{b64url(payload)}"
    signature = hmac.new(raw, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64url(signature)}"


def forge(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    """A compact token with any header and an arbitrary (default empty) signature."""
    return f"{b64url(header)}.{b64url(payload)}.{b64url(signature)}"


def b64url(data: bytes | dict[str, Any]) -> str:
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def issuer_settings(**overrides: Any) -> IssuerSettings:
    values: dict[str, Any] = {"issuer": ISSUER, "audiences": (AUDIENCE,)}
    values.update(overrides)
    return IssuerSettings(**values)


def auth_settings(*issuers: IssuerSettings, **overrides: Any) -> AuthSettings:
    return AuthSettings(issuers=issuers, **overrides)


class FakeClock:
    """An injectable clock: call it for the time, ``advance(seconds)`` to move it."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class JwksServer:
    """An IdP's JWKS endpoint at ``/jwks``: serves ``keys`` (or answers ``status``), counts ``hits``."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.status = 200
        self.hits = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/jwks", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.status != 200:
            return web.Response(status=self.status, text="unavailable")
        return web.json_response(jwks(*self.keys))
