"""crm-gateway demo: sandbox CiviCRM and EspoCRM on localhost behind the gateway, a token, curl lines."""

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
from gateway.config.loader import load_config
from gateway.observability.logging import register_secret, setup_logging
from gateway.sandbox.civicrm import build_civicrm_app
from gateway.sandbox.civicrm_store import CiviSandboxConfig, SandboxContact
from gateway.sandbox.espocrm import EspoSandboxConfig, EspoUser, build_espo_app
from gateway.server import run_server

ISSUER = "https://idp.demo.invalid"
SUBJECT = "demo-integration"


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
    civi_runner, civi_url = await _start(civi, host)
    espo_runner, espo_url = await _start(espo, host)
    environ = {
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
    # No kid, jti or nbf: a short ES256 token (some Espo clients cap X-Api-Key at 255 characters).
    token = mint_token(
        private_pem,
        issuer=ISSUER,
        audience="crm-gateway",
        subject=SUBJECT,
        algorithm="ES256",
        lifetime_seconds=8 * 3600,
        extra={"jti": None, "nbf": None},
    )
    base, root = f"http://{host}:{port}", f"http://{host}:{root_port}"
    print(f"crm-auth-gateway demo on {base}  (sandbox CiviCRM {civi_url}, sandbox EspoCRM {espo_url})")
    print(f"EspoCRM at a root URL: {root}  (its own port: clients that drop the base path use this)")
    print(f"config: {demo_config_path()}\n")
    print(f"TOKEN={token}\n")
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


def run_demo(
    host: str = "127.0.0.1", port: int = 8080, root_port: int | None = None, exit_after: float | None = None
) -> int:
    """``root_port``: where EspoCRM is served at the root (default: ``port + 1``)."""
    setup_logging("WARNING", json=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_demo(host, port, root_port or port + 1, exit_after))
    return 0
