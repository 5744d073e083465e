"""A sandbox OAuth 2.0 identity provider that issues opaque access tokens and answers RFC 7662
introspection, checking client authentication as a real IdP does.

POST /oauth2/token       grant_type=client_credentials (RFC 6749 4.4); ``scope``, ``audience``; a client
                         registered with ``may_set_subject`` may also name the ``subject`` (sandbox only)
POST /oauth2/introspect  ``token`` (RFC 7662): ``{"active": false}`` or the token's data
POST /oauth2/revoke      ``token`` (RFC 7009)

Clients authenticate with ``client_secret_basic`` (RFC 6749 2.3.1: id and secret form-urlencoded, then
Basic), ``client_secret_post``, or ``private_key_jwt`` (RFC 7523: an assertion signed by the client's
key, ``iss`` = ``sub`` = client id, ``aud`` the issuer or the endpoint's URL, ``exp`` required, each
``jti`` once), each client with the one method it was registered for. A failure is HTTP 401
``invalid_client``. Tokens are 64 characters of ``[A-Za-z0-9_-]``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

import jwt
from aiohttp import web

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_PATH, INTROSPECT_PATH, REVOKE_PATH = "/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"


@dataclass(frozen=True)
class IdpClient:
    client_id: str
    auth_method: str = "client_secret_basic"
    secret: str | None = None
    public_jwk: Mapping[str, Any] | None = None
    may_introspect: bool = False
    may_set_subject: bool = False


@dataclass
class IdpSandboxConfig:
    issuer: str
    clients: list[IdpClient]
    audience: str = "crm-gateway"
    lifetime_seconds: int = 3600
    clock: Callable[[], float] = time.time
    status: int = 200
    """Answer every introspection with this status instead (503: the IdP is down)."""
    delay_seconds: float = 0.0


@dataclass
class IdpState:
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    introspections: int = 0
    seen_jtis: set[str] = field(default_factory=set)


IDP_CONFIG = web.AppKey("idp_config", IdpSandboxConfig)
IDP_STATE = web.AppKey("idp_state", IdpState)


class _ClientError(Exception):
    def __init__(self, error: str, status: int = 401) -> None:
        self.error, self.status = error, status


def _oauth_error(error: str, status: int) -> web.Response:
    headers = {"WWW-Authenticate": 'Basic realm="sandbox-idp"'} if status == 401 else {}
    return web.json_response({"error": error}, status=status, headers=headers)


def _authenticate(request: web.Request, form: Mapping[str, str], config: IdpSandboxConfig) -> IdpClient:
    clients = {c.client_id: c for c in config.clients}
    header = request.headers.get("Authorization", "")
    methods = [
        header[:6].lower() == "basic ",
        "client_secret" in form,
        "client_assertion" in form or "client_assertion_type" in form,
    ]
    if sum(methods) != 1:
        raise _ClientError(
            "invalid_request" if sum(methods) else "invalid_client", 400 if sum(methods) else 401
        )
    if methods[0]:
        try:
            raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise _ClientError("invalid_client") from None
        client_id, sep, secret = raw.partition(":")
        return _by_secret(clients, unquote_plus(client_id), unquote_plus(secret), "client_secret_basic", sep)
    if methods[1]:
        return _by_secret(
            clients, form.get("client_id", ""), form["client_secret"], "client_secret_post", ":"
        )
    return _by_assertion(request, form, clients, config)


def _by_secret(
    clients: Mapping[str, IdpClient], client_id: str, secret: str, method: str, sep: str
) -> IdpClient:
    client = clients.get(client_id)
    if not sep or client is None or client.auth_method != method or client.secret is None:
        raise _ClientError("invalid_client")
    if not hmac.compare_digest(client.secret.encode(), secret.encode()):
        raise _ClientError("invalid_client")
    return client


def _by_assertion(
    request: web.Request, form: Mapping[str, str], clients: Mapping[str, IdpClient], config: IdpSandboxConfig
) -> IdpClient:
    if form.get("client_assertion_type") != ASSERTION_TYPE or "client_assertion" not in form:
        raise _ClientError("invalid_client")
    assertion = form["client_assertion"]
    try:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise _ClientError("invalid_client") from None
    client = clients.get(str(unverified.get("iss", "")))
    if client is None or client.auth_method != "private_key_jwt" or client.public_jwk is None:
        raise _ClientError("invalid_client")
    endpoint = str(request.url.with_query(None))
    audiences = [config.issuer, endpoint, str(request.url.with_path(TOKEN_PATH).with_query(None))]
    try:
        key = jwt.PyJWK(dict(client.public_jwk))
        claims = jwt.decode(
            assertion,
            key.key,
            algorithms=["RS256", "ES256", "EdDSA"],
            audience=audiences,
            issuer=client.client_id,
            options={"require": ["exp", "iss", "sub", "aud", "jti"]},
        )
    except jwt.PyJWTError:
        raise _ClientError("invalid_client") from None
    state = request.app[IDP_STATE]
    if claims["sub"] != client.client_id or claims["jti"] in state.seen_jtis:
        raise _ClientError("invalid_client")
    state.seen_jtis.add(claims["jti"])
    return client


async def _form(request: web.Request) -> Mapping[str, str]:
    if request.content_type != "application/x-www-form-urlencoded":
        raise _ClientError("invalid_request", 400)
    data = await request.post()
    return {k: v for k, v in data.items() if isinstance(v, str)}


async def _token(request: web.Request) -> web.Response:
    config = request.app[IDP_CONFIG]
    try:
        form = await _form(request)
        client = _authenticate(request, form, config)
    except _ClientError as exc:
        return _oauth_error(exc.error, exc.status)
    if form.get("grant_type") != "client_credentials":
        return _oauth_error("unsupported_grant_type", 400)
    subject = form.get("subject") or client.client_id
    if subject != client.client_id and not client.may_set_subject:
        return _oauth_error("invalid_request", 400)
    token = secrets.token_urlsafe(48)
    now = int(config.clock())
    lifetime = min(int(form.get("lifetime") or config.lifetime_seconds), config.lifetime_seconds)
    request.app[IDP_STATE].tokens[token] = {
        "sub": subject,
        "client_id": client.client_id,
        "scope": form.get("scope", ""),
        "aud": [form.get("audience") or config.audience],
        "iss": config.issuer,
        "iat": now,
        "exp": now + lifetime,
        "jti": secrets.token_hex(8),
        "token_type": "Bearer",
        "token_use": "access_token",
    }
    body = {
        "access_token": token,
        "token_type": "bearer",
        "expires_in": lifetime,
        "scope": form.get("scope", ""),
    }
    return web.json_response(body, headers={"Cache-Control": "no-store"})


async def _introspect(request: web.Request) -> web.Response:
    import asyncio

    config, state = request.app[IDP_CONFIG], request.app[IDP_STATE]
    if config.delay_seconds:
        await asyncio.sleep(config.delay_seconds)
    if config.status != 200:
        return web.json_response({"error": "temporarily_unavailable"}, status=config.status)
    try:
        form = await _form(request)
        client = _authenticate(request, form, config)
    except _ClientError as exc:
        return _oauth_error(exc.error, exc.status)
    if not client.may_introspect:
        return _oauth_error("unauthorized_client", 403)
    if "token" not in form:
        return _oauth_error("invalid_request", 400)
    state.introspections += 1
    data = state.tokens.get(form["token"])
    if data is None or config.clock() >= data["exp"]:
        return web.json_response({"active": False})
    return web.json_response({"active": True, **data})


async def _revoke(request: web.Request) -> web.Response:
    config = request.app[IDP_CONFIG]
    try:
        form = await _form(request)
        client = _authenticate(request, form, config)
    except _ClientError as exc:
        return _oauth_error(exc.error, exc.status)
    tokens = request.app[IDP_STATE].tokens
    data = tokens.get(form.get("token", ""))
    if data is not None and data["client_id"] == client.client_id:
        del tokens[form["token"]]
    return web.Response(status=200)


def build_idp_app(config: IdpSandboxConfig) -> web.Application:
    app = web.Application()
    app[IDP_CONFIG] = config
    app[IDP_STATE] = IdpState()
    app.router.add_post(TOKEN_PATH, _token)
    app.router.add_post(INTROSPECT_PATH, _introspect)
    app.router.add_post(REVOKE_PATH, _revoke)
    return app
