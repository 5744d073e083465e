"""A whole stack over real sockets: sandbox CiviCRM + sandbox EspoCRM + the gateway in front of them.

stack = await start_stack(aiohttp_server, aiohttp_client, tmp_path)
resp = await stack.client.get("/civi-jwt/civicrm/ajax/api4/Contact/get", headers=stack.bearer())
assert stack.civi_received[-1].headers["X-Civi-Auth"].startswith("Bearer ")
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import build_app
from gateway.config.loader import load_config_text
from gateway.config.model import GatewayConfig
from gateway.keys import METRICS, STATE
from gateway.sandbox.civicrm import CIVI_CONFIG, CIVI_RECEIVED, build_civicrm_app
from gateway.sandbox.civicrm_config import DEFAULT_FLOW_CREDS, CiviSandboxConfig, SandboxContact
from gateway.sandbox.espocrm import ESPO_CONFIG, ESPO_RECEIVED, EspoSandboxConfig, EspoUser, build_espo_app
from gateway.sandbox.received import ReceivedRequest
from tests.support.jwt_factory import AUDIENCE, ISSUER, SigningKey, claims, make_key, sign

CIVI_SITE_KEY = "sandbox-site-key-0123456789"
CIVI_SIGN_KEYS = "jwt-hs256:hkdf-sha256:sandbox-sign-secret-for-tests"
CIVI_API_KEY = "civi-contact-42-api-key"
CIVI_USER, CIVI_PASSWORD = "svc_user", "civi-password-42"
ESPO_API_KEY = "e69c94ab64c728e7639ec4296fa086c4"
ESPO_HMAC_KEY = "0c2d0f3a4b5c6d7e8f90a1b2c3d4e5f6"
ESPO_SECRET = "ea361567ad802bbf9a3d67ef6470d0d1"
ESPO_USER, ESPO_PASSWORD, ESPO_TOKEN = "espo_basic", "espo-password-1", "0123456789abcdef0123456789abcdef"

SECRETS = (
    CIVI_SITE_KEY,
    CIVI_SIGN_KEYS,
    "sandbox-sign-secret-for-tests",
    CIVI_API_KEY,
    CIVI_PASSWORD,
    ESPO_API_KEY,
    ESPO_HMAC_KEY,
    ESPO_SECRET,
    ESPO_PASSWORD,
    ESPO_TOKEN,
)

ENV = {
    "CIVI_SITE_KEY": CIVI_SITE_KEY,
    "CIVI_SIGN_KEYS": CIVI_SIGN_KEYS,
    "CIVI_API_KEY": CIVI_API_KEY,
    "CIVI_PASSWORD": CIVI_PASSWORD,
    "ESPO_API_KEY": ESPO_API_KEY,
    "ESPO_HMAC_KEY": ESPO_HMAC_KEY,
    "ESPO_SECRET": ESPO_SECRET,
    "ESPO_PASSWORD": ESPO_PASSWORD,
    "ESPO_TOKEN": ESPO_TOKEN,
}

CIVI_SCHEMES: dict[str, str] = {
    "civi-keys": "{scheme: civicrm-keys, site_key: '${env:CIVI_SITE_KEY}'}",
    "civi-apikey": "{scheme: authx-apikey, site_key: '${env:CIVI_SITE_KEY}', flow: xheader}",
    "civi-apikey-header": "{scheme: authx-apikey, site_key: '${env:CIVI_SITE_KEY}', flow: header}",
    "civi-apikey-param": "{scheme: authx-apikey, site_key: '${env:CIVI_SITE_KEY}', flow: param}",
    "civi-jwt": "{scheme: authx-jwt, sign_keys: '${env:CIVI_SIGN_KEYS}', flow: xheader}",
    "civi-jwt-header": "{scheme: authx-jwt, sign_keys: '${env:CIVI_SIGN_KEYS}', flow: header}",
    "civi-jwt-param": "{scheme: authx-jwt, sign_keys: '${env:CIVI_SIGN_KEYS}', flow: param}",
    "civi-basic": "{scheme: authx-basic, site_key: '${env:CIVI_SITE_KEY}', flow: xheader}",
}
ESPO_SCHEMES: dict[str, str] = {
    "espo-key": "{scheme: espo-apikey}",
    "espo-hmac": "{scheme: espo-hmac}",
    "espo-hmac-raw": "{scheme: espo-hmac, digest: raw}",
    "espo-basic": "{scheme: espo-basic}",
    "espo-token": "{scheme: espo-token}",
}
CIVI_IDENTITY = {
    "civi-keys": "{api_key: '${env:CIVI_API_KEY}'}",
    "civi-apikey": "{api_key: '${env:CIVI_API_KEY}'}",
    "civi-apikey-header": "{api_key: '${env:CIVI_API_KEY}'}",
    "civi-apikey-param": "{api_key: '${env:CIVI_API_KEY}'}",
    "civi-jwt": "{contact_id: 42}",
    "civi-jwt-header": "{contact_id: 42}",
    "civi-jwt-param": "{contact_id: 42}",
    "civi-basic": f"{{username: {CIVI_USER}, password: '${{env:CIVI_PASSWORD}}'}}",
}
ESPO_IDENTITY = {
    "espo-key": "{api_key: '${env:ESPO_API_KEY}'}",
    "espo-hmac": "{api_key: '${env:ESPO_HMAC_KEY}', secret_key: '${env:ESPO_SECRET}'}",
    "espo-hmac-raw": "{api_key: '${env:ESPO_HMAC_KEY}', secret_key: '${env:ESPO_SECRET}'}",
    "espo-basic": f"{{username: {ESPO_USER}, password: '${{env:ESPO_PASSWORD}}'}}",
    "espo-token": f"{{username: {ESPO_USER}, token: '${{env:ESPO_TOKEN}}'}}",
}

ALLOW_ALL = """
policy: test-allow-all
subjects: {principals: [svc-test]}
entities:
  "*": {default: allow}
opaque: ["GET /Attachment/file/:id", "GET /App/user"]
"""


def civi_sandbox_config() -> CiviSandboxConfig:
    return CiviSandboxConfig(
        site_key=CIVI_SITE_KEY,
        sign_keys=CIVI_SIGN_KEYS,
        contacts=[
            SandboxContact(
                id=2, api_key="admin-contact-key", display_name="Admin", username="admin", password="admin-pw"
            ),
            SandboxContact(
                id=42,
                api_key=CIVI_API_KEY,
                display_name="Integration",
                username=CIVI_USER,
                password=CIVI_PASSWORD,
                permissions=frozenset({"authenticate with password"}),
            ),
        ],
        authx_flow_creds={**DEFAULT_FLOW_CREDS, "xheader": ("jwt", "api_key", "pass")},
    )


def espo_sandbox_config() -> EspoSandboxConfig:
    return EspoSandboxConfig(
        users=[
            EspoUser(id="u-api", user_name="api_user", auth_method="ApiKey", api_key=ESPO_API_KEY),
            EspoUser(
                id="u-hmac",
                user_name="hmac_user",
                auth_method="Hmac",
                api_key=ESPO_HMAC_KEY,
                secret_key=ESPO_SECRET,
            ),
            EspoUser(
                id="u-basic",
                user_name=ESPO_USER,
                auth_method="Password",
                password=ESPO_PASSWORD,
                token=ESPO_TOKEN,
            ),
        ]
    )


def config_text(
    civi_url: str,
    espo_url: str,
    key: SigningKey,
    *,
    extra: str = "",
    ratelimit: str = "",
    upstream_extra: Mapping[str, str] | None = None,
    policies: Sequence[str] = ("policies/",),
    identities_extra: str = "",
    issuer_keys: str = "",
) -> str:
    """``identities_extra``: more identity rules (YAML list items, two-space indent) after svc-test's;
    ``issuer_keys``: issuer lines (six-space indent) that replace the static ``keys:`` line."""
    upstream_extra = upstream_extra or {}
    lines = [
        "listen: {host: 127.0.0.1, port: 0}",
        "identity:",
        "  issuers:",
        f"    - issuer: {ISSUER}",
        f"      audiences: [{AUDIENCE}]",
        f"      algorithms: [{key.algorithm}]",
        *(
            issuer_keys.splitlines()
            if issuer_keys
            else [f"      keys: [{{kid: {key.kid}, jwk: '{json.dumps(key.jwk)}'}}]"]
        ),
        "upstreams:",
    ]
    for name, auth in CIVI_SCHEMES.items():
        lines += [
            f"  {name}:",
            "    dialect: civicrm",
            f"    url: {civi_url}",
            f"    match: {{path_prefix: /{name}}}",
            f"    auth: {auth}",
            *(f"    {x}" for x in upstream_extra.get(name, "").splitlines() if x),
        ]
    for name, auth in ESPO_SCHEMES.items():
        lines += [
            f"  {name}:",
            "    dialect: espocrm",
            f"    url: {espo_url}",
            f"    match: {{path_prefix: /{name}}}",
            f"    auth: {auth}",
            *(f"    {x}" for x in upstream_extra.get(name, "").splitlines() if x),
        ]
    lines += [
        "  espo-by-host:",
        "    dialect: espocrm",
        f"    url: {espo_url}",
        "    match: {host: espo.example.test}",
        "    auth: {scheme: espo-apikey}",
    ]
    lines += ["identities:", "  - match: {sub: svc-test}"]
    lines += [f"    {name}: {ident}" for name, ident in {**CIVI_IDENTITY, **ESPO_IDENTITY}.items()]
    lines += [f"    espo-by-host: {ESPO_IDENTITY['espo-key']}"]
    lines += [x for x in identities_extra.splitlines() if x.strip()]
    lines += [f"policies: [{', '.join(policies)}]"]
    if ratelimit:
        lines += [ratelimit]
    if extra:
        lines += [extra]
    return "\n".join(lines) + "\n"


def metric_samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample called ``name`` in an exposition text, keyed by its sorted label pairs."""
    found: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def metric_value(text: str, name: str, **labels: str) -> float:
    """The value of the sample ``name`` with exactly these labels; 0.0 when absent (never counted)."""
    return metric_samples(text, name).get(tuple(sorted(labels.items())), 0.0)


@dataclass
class Stack:
    client: TestClient[web.Request, web.Application]
    app: web.Application
    civi: TestServer
    espo: TestServer
    key: SigningKey
    config: GatewayConfig
    extra_tokens: dict[str, str] = field(default_factory=dict)

    def token(self, sub: str = "svc-test", **overrides: Any) -> str:
        return sign(self.key, claims(sub=sub, **overrides))

    def bearer(self, sub: str = "svc-test", **overrides: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(sub, **overrides)}"}

    @property
    def civi_received(self) -> list[ReceivedRequest]:
        return self.civi.app[CIVI_RECEIVED]

    @property
    def espo_received(self) -> list[ReceivedRequest]:
        return self.espo.app[ESPO_RECEIVED]

    def received(self) -> list[ReceivedRequest]:
        return [*self.civi_received, *self.espo_received]

    def set_civi_delay(self, seconds: float) -> None:
        self.civi.app[CIVI_CONFIG].delay_seconds = seconds

    def set_espo_delay(self, seconds: float) -> None:
        self.espo.app[ESPO_CONFIG].delay_seconds = seconds

    def metrics_text(self) -> str:
        return self.app[METRICS].render()[0].decode()

    def metric(self, name: str, **labels: str) -> float:
        return metric_value(self.metrics_text(), name, **labels)

    @property
    def runtime(self) -> Any:
        return self.app[STATE].runtime


async def start_stack(
    aiohttp_server: Any,
    aiohttp_client: Any,
    tmp_path: Path,
    *,
    policies: Mapping[str, str] | None = None,
    algorithm: str = "ES256",
    extra: str = "",
    ratelimit: str = "",
    upstream_extra: Mapping[str, str] | None = None,
    civi_config: CiviSandboxConfig | None = None,
    espo_config: EspoSandboxConfig | None = None,
    environ: Mapping[str, str] | None = None,
    identities_extra: str = "",
    issuer_keys: str = "",
    monotonic: Callable[[], float] = time.monotonic,
    clock: Callable[[], float] = time.time,
    before_start: Callable[[web.Application], object] | None = None,
) -> Stack:
    """``before_start``: called with the app before it serves (a Reloader must be made then)."""
    # No aiohttp access log anywhere: the gateway serves with access_log=None, and a sandbox's own log
    # (the CRM's) naturally shows the keys the gateway sent it.
    civi = await aiohttp_server(build_civicrm_app(civi_config or civi_sandbox_config()), access_log=None)
    espo = await aiohttp_server(build_espo_app(espo_config or espo_sandbox_config()), access_log=None)
    key = make_key(algorithm)
    policy_dir = tmp_path / "policies"
    policy_dir.mkdir(exist_ok=True)
    for name, text in (policies if policies is not None else {"allow-all": ALLOW_ALL}).items():
        (policy_dir / f"{name}.yaml").write_text(text)
    text = config_text(
        str(civi.make_url("")).rstrip("/"),
        str(espo.make_url("")).rstrip("/"),
        key,
        extra=extra,
        ratelimit=ratelimit,
        upstream_extra=upstream_extra,
        identities_extra=identities_extra,
        issuer_keys=issuer_keys,
    )
    config_file = tmp_path / "gateway.yaml"
    config_file.write_text(text)
    config = load_config_text(text, str(config_file), {**ENV, **(environ or {})})
    app = build_app(config, clock=clock, monotonic=monotonic)
    if before_start is not None:
        before_start(app)
    client = await aiohttp_client(await aiohttp_server(app, access_log=None))
    return Stack(client=client, app=app, civi=civi, espo=espo, key=key, config=config)
