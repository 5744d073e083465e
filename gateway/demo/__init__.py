"""crm-gateway demo: sandbox CiviCRM, EspoCRM and IdP on localhost behind the gateway, tokens, curl lines."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import secrets
from importlib import resources
from pathlib import Path

from aiohttp import web

from gateway.auth.token_mint import generate_dev_key, mint_token
from gateway.commands.token import request_token
from gateway.config.loader import load_config
from gateway.observability.logging import setup_logging
from gateway.observability.redact import register_secret
from gateway.sandbox.civicrm import build_civicrm_app
from gateway.sandbox.civicrm_config import CiviSandboxConfig, SandboxContact
from gateway.sandbox.espocrm import EspoSandboxConfig, EspoUser, build_espo_app
from gateway.sandbox.idp import TOKEN_PATH, IdpClient, IdpSandboxConfig, build_idp_app
from gateway.server import run_server

ISSUER = "https://idp.demo.invalid"
SUBJECT = "demo-integration"
MINTER = "demo-minter"


def demo_config_path() -> Path:
    return Path(str(resources.files("gateway.demo").joinpath("gateway.yaml")))


async def _start(app: web.Application, host: str) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://{host}:{port}"


def curl_lines(base: str, token: str, root: str) -> list[str]:
    q = "'"
    return [
        "# CiviCRM APIv4 through AuthX (the gateway mints a short-lived CiviCRM JWT per request):",
        f"curl -s -H 'X-Civi-Auth: Bearer {token}' {q}{base}/civi/civicrm/ajax/api4/Contact/get"
        f"?params=%7B%22select%22%3A%5B%22display_name%22%5D%7D{q}",
        "# CiviCRM APIv3 rest.php with the token where the api_key used to be (site key + api_key upstream):",
        f"curl -s '{base}/civi-legacy/sites/all/modules/civicrm/extern/rest.php"
        f"?entity=Contact&action=get&json=1&api_key={token}'",
        "# EspoCRM with the token in X-Api-Key (HMAC-signed upstream):",
        f"curl -s -H 'X-Api-Key: {token}' '{base}/espo/api/v1/Lead?maxSize=5'",
        "# The same EspoCRM at a root URL (its own port), for clients that drop the base path:",
        f"curl -s -H 'X-Api-Key: {token}' '{root}/api/v1/Lead?maxSize=5'",
        "# Denied by policy (403, in the CiviCRM v4 dialect): deleting is not allowed",
        f"curl -s -H 'Authorization: Bearer {token}' '{base}/civi/civicrm/ajax/api4/Contact/delete'"
        ' --data-urlencode \'params={"where":[["id","=",3]]}\'',
        "# Denied: a chained call hiding a delete inside a read",
        f"curl -s '{base}/civi-legacy/sites/all/modules/civicrm/extern/rest.php"
        f"?entity=Contact&action=get&json=1&api.Activity.delete=1&api_key={token}'",
        "# No token: 401 in the client's dialect",
        f"curl -si '{base}/espo/api/v1/Lead' | head -n 12",
        f"# Metrics: curl -s {base}/metrics | grep crmgw_requests_total",
    ]


async def _demo(host: str, port: int, root_port: int, exit_after: float | None) -> None:
    private_pem, jwk = generate_dev_key("ES256")
    site_key, sign_secret = secrets.token_hex(16), secrets.token_hex(24)
    civi_key, espo_key, espo_secret = secrets.token_hex(16), secrets.token_hex(16), secrets.token_hex(16)
    sign_keys = f"jwt-hs256:hkdf-sha256:{sign_secret}"
    civi = build_civicrm_app(
        CiviSandboxConfig(
            site_key=site_key,
            sign_keys=sign_keys,
            contacts=[
                SandboxContact(
                    id=2, api_key=civi_key, display_name="Demo Integration", email="demo@example.org"
                )
            ],
        )
    )
    espo = build_espo_app(
        EspoSandboxConfig(
            users=[
                EspoUser(
                    id="demo-api",
                    user_name="demo_api",
                    auth_method="Hmac",
                    api_key=espo_key,
                    secret_key=espo_secret,
                )
            ]
        )
    )
    idp_secret, minter_secret = secrets.token_hex(16), secrets.token_hex(16)
    idp = build_idp_app(
        IdpSandboxConfig(
            issuer=ISSUER,
            clients=[
                IdpClient("crm-gateway", secret=idp_secret, may_introspect=True),
                IdpClient(MINTER, secret=minter_secret, may_set_subject=True),
            ],
            lifetime_seconds=8 * 3600,
        )
    )
    civi_runner, civi_url = await _start(civi, host)
    espo_runner, espo_url = await _start(espo, host)
    idp_runner, idp_url = await _start(idp, host)
    environ = {
        "DEMO_IDP_URL": idp_url,
        "DEMO_IDP_SECRET": idp_secret,
        "DEMO_PUBLIC_JWK": json.dumps(jwk),
        "DEMO_CIVI_URL": civi_url,
        "DEMO_ESPO_URL": espo_url,
        "DEMO_CIVI_SIGN_KEYS": sign_keys,
        "DEMO_CIVI_SITE_KEY": site_key,
        "DEMO_CIVI_API_KEY": civi_key,
        "DEMO_ESPO_API_KEY": espo_key,
        "DEMO_ESPO_SECRET": espo_secret,
    }
    config = load_config(demo_config_path(), environ)
    config = dataclasses.replace(
        config,
        upstreams=tuple(
            dataclasses.replace(up, port=root_port) if up.port is not None else up for up in config.upstreams
        ),
    )
    for secret in config.secrets:
        register_secret(secret)
    # ES256 without kid, jti or nbf is still about 275 characters: too long for Espo clients that cap
    # X-Api-Key at 255. Those use the opaque token (64 characters), checked by introspection at the IdP.
    token = mint_token(
        private_pem,
        issuer=ISSUER,
        audience="crm-gateway",
        subject=SUBJECT,
        algorithm="ES256",
        lifetime_seconds=8 * 3600,
        extra={"jti": None, "nbf": None},
    )
    form = {"grant_type": "client_credentials", "subject": SUBJECT, "lifetime": str(8 * 3600)}
    opaque = await request_token(idp_url + TOKEN_PATH, MINTER, minter_secret, form)
    base, root = f"http://{host}:{port}", f"http://{host}:{root_port}"
    print(f"crm-auth-gateway demo on {base}  (sandbox CiviCRM {civi_url}, sandbox EspoCRM {espo_url})")
    print(f"EspoCRM at a root URL: {root}  (its own port: clients that drop the base path use this)")
    print(f"config: {demo_config_path()}\n")
    print(f"TOKEN={token}\n")
    print(
        f"# The same integration with an opaque access token ({len(opaque)} characters;"
        f" the JWT has {len(token)}),"
    )
    print(f"# from the sandbox IdP at {idp_url}, for clients that refuse keys over 255 characters:")
    print(f"OPAQUE_TOKEN={opaque}")
    mint_line = f"crm-gateway token --opaque --idp {idp_url} --client-id {MINTER} --sub {SUBJECT}"
    print(f"# another one: CRM_GATEWAY_CLIENT_SECRET={minter_secret} {mint_line}")
    print(f"curl -s -H 'X-Api-Key: {opaque}' '{root}/api/v1/Lead?maxSize=5'\n")
    print("\n".join(curl_lines(base, token, root)))
    print("\nCtrl-C stops everything. Access log lines follow.\n", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if exit_after is not None:
        loop.call_later(exit_after, stop.set)
    try:
        await run_server(config, None, host=host, port=port, grace=1.0, stop=stop)
    finally:
        await civi_runner.cleanup()
        await espo_runner.cleanup()
        await idp_runner.cleanup()


def run_demo(
    host: str = "127.0.0.1", port: int = 8080, root_port: int | None = None, exit_after: float | None = None
) -> int:
    """``root_port``: where EspoCRM is served at the root (default: ``port + 1``)."""
    setup_logging("WARNING", json=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_demo(host, port, root_port or port + 1, exit_after))
    return 0
