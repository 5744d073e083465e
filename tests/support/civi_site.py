"""A sandbox CiviCRM site for the sandbox's own authentication tests: contacts with every kind of
credential, the JWT vectors' contacts, a fixed clock, and who the site saw."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp import ClientResponse

from gateway.sandbox.civicrm_config import CiviSandboxConfig, SandboxContact

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "civicrm-authx-jwt.json").read_text()
)
NOW = 1_700_000_000.0
SITE_KEY = "site-key-123456"
SIGN_KEYS = "jwt-hs256:hkdf-sha256:oracle-sign-secret-1"
GOOD_JWT = VECTORS["accept"][0]["jwt"]  # cid:2, signed with SIGN_KEYS
PERM = frozenset({"authenticate with api key"})
XHR = {"X-Requested-With": "XMLHttpRequest"}
V4 = "/civicrm/ajax/api4/Contact/get"
V3 = "/civicrm/ajax/rest?entity=Contact&action=get&json=1"
REST_PHP = "/sites/all/modules/civicrm/extern/rest.php"
WP = "/wp-json/civicrm/v3/rest"


def contacts() -> list[SandboxContact]:
    listed = [
        SandboxContact(
            2, "apikey-two", "Alice Two", "alice@example.org", username="alice", password="alice-pw"
        ),
        SandboxContact(3, "apikey-three", "Bob NoUser", has_cms_user=False),
        SandboxContact(4, "apikey-four", "Carol Perm", permissions=PERM),
        SandboxContact(5, None, "Dan NoKey"),
    ]
    cids = {int(v["claims"]["sub"][4:]) for v in VECTORS["accept"]} - {c.id for c in listed}
    return listed + [SandboxContact(cid, None, f"Vector {cid}") for cid in sorted(cids)]


def site(**overrides: Any) -> CiviSandboxConfig:
    settings: dict[str, Any] = {
        "site_key": SITE_KEY,
        "sign_keys": SIGN_KEYS,
        "contacts": contacts(),
        "clock": lambda: NOW,
    }
    settings.update(overrides)
    return CiviSandboxConfig(**settings)


async def who(response: ClientResponse) -> tuple[int, str | None, str | None, str]:
    return (
        response.status,
        response.headers.get("X-Sandbox-Contact-Id"),
        response.headers.get("X-Sandbox-Auth-Flow"),
        await response.text(),
    )
