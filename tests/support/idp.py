"""The sandbox IdP for tests: registered clients, a token from it, and the issuer lines that point the
gateway's introspection at it.

    idp = await start_idp(aiohttp_server)
    token = await idp.mint("svc-test")
    text = issuer_lines(idp, "client_secret_basic")      # six-space indented, for start_stack(issuer_keys=)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestServer

from gateway.commands.token import request_token
from gateway.sandbox.idp import (
    IDP_CONFIG,
    IDP_STATE,
    INTROSPECT_PATH,
    TOKEN_PATH,
    IdpClient,
    IdpSandboxConfig,
    build_idp_app,
)
from tests.support.jwt_factory import AUDIENCE, ISSUER, SigningKey, make_key

GATEWAY_CLIENT = "crm-gateway"
GATEWAY_SECRET = "gateway-introspection-secret-0123456789"
MINTER, MINTER_SECRET = "svc-minter", "minter-secret-abcdefghijklmnop"


@dataclass
class Idp:
    server: TestServer
    config: IdpSandboxConfig
    assertion_key: SigningKey

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def introspect_url(self) -> str:
        return self.url + INTROSPECT_PATH

    @property
    def introspections(self) -> int:
        return self.server.app[IDP_STATE].introspections

    def set_status(self, status: int) -> None:
        self.server.app[IDP_CONFIG].status = status

    def set_delay(self, seconds: float) -> None:
        self.server.app[IDP_CONFIG].delay_seconds = seconds

    async def mint(self, subject: str = "svc-test", **form: str) -> str:
        return await request_token(
            self.url + TOKEN_PATH,
            MINTER,
            MINTER_SECRET,
            {"grant_type": "client_credentials", "subject": subject, **form},
        )

    def forget(self, token: str) -> None:
        """Revoke ``token`` at the IdP (as RFC 7009 revocation would)."""
        del self.server.app[IDP_STATE].tokens[token]


async def start_idp(
    aiohttp_server: Any, *, issuer: str = ISSUER, clock: Callable[[], float] | None = None
) -> Idp:
    key = make_key("ES256", 7)
    clients = [
        IdpClient(MINTER, secret=MINTER_SECRET, may_set_subject=True),
        IdpClient(GATEWAY_CLIENT, secret=GATEWAY_SECRET, may_introspect=True),
        IdpClient(GATEWAY_CLIENT + "-post", "client_secret_post", secret=GATEWAY_SECRET, may_introspect=True),
        IdpClient(GATEWAY_CLIENT + "-jwt", "private_key_jwt", public_jwk=key.jwk, may_introspect=True),
    ]
    config = IdpSandboxConfig(issuer=issuer, clients=clients, audience=AUDIENCE)
    if clock is not None:
        config.clock = clock
    server = await aiohttp_server(build_idp_app(config), access_log=None)
    return Idp(server, config, key)


def introspection_yaml(idp: Idp, method: str = "client_secret_basic", **extra: Any) -> str:
    """The ``introspection:`` mapping (flow style) for the gateway client registered with ``method``."""
    fields: dict[str, Any] = {"url": idp.introspect_url, "auth": method}
    if method == "client_secret_basic":
        fields |= {"client_id": GATEWAY_CLIENT, "client_secret": GATEWAY_SECRET}
    elif method == "client_secret_post":
        fields |= {"client_id": GATEWAY_CLIENT + "-post", "client_secret": GATEWAY_SECRET}
    else:
        fields |= {
            "client_id": GATEWAY_CLIENT + "-jwt",
            "private_key": idp.assertion_key.private_pem,
            "assertion_algorithm": "ES256",
        }
    fields |= extra
    return json.dumps(fields)


def issuer_lines(
    idp: Idp, method: str = "client_secret_basic", *, jwt_key: SigningKey | None = None, **extra: Any
) -> str:
    """Issuer lines (six-space indent) for ``start_stack(issuer_keys=...)``: introspection at ``idp``,
    plus the static JWT key ``jwt_key`` when given (the issuer then takes both token kinds)."""
    lines = [f"      introspection: {introspection_yaml(idp, method, **extra)}"]
    if jwt_key is not None:
        lines.append(f"      keys: [{{kid: {jwt_key.kid}, jwk: '{json.dumps(jwt_key.jwk)}'}}]")
    return "\n".join(lines)
