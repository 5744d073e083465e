"""Plug-in (signer, dialect) config errors and identity references carry file, line and key."""

from __future__ import annotations

import json

import pytest

from gateway.auth.token_mint import generate_dev_key
from gateway.config.loader import load_config_text
from gateway.errors import ConfigError

_, JWK = generate_dev_key("ES256")
HEAD = f"""identity:
  issuers:
    - issuer: https://idp.test
      audiences: [crm-gateway]
      algorithms: [ES256]
      keys: [{{jwk: '{json.dumps(JWK)}'}}]
upstreams:
  civi:
    dialect: civicrm
    url: http://127.0.0.1:9
    match: {{path_prefix: /civi}}
"""


@pytest.mark.parametrize(
    ("tail", "line", "key", "reason"),
    [
        (
            "    auth:\n      scheme: civicrm-keys\n      site_key: short\n",
            14,
            "civi.auth.site_key",
            "8 characters",
        ),
        ("    auth:\n      scheme: authx-apikey\n      flow: sideways\n", 14, "civi.auth.flow", "flow"),
        (
            "    options: {cms: plone}\n    auth: {scheme: authx-jwt, sign_keys: 'jwt-hs256::abcdefgh'}\n",
            12,
            "civi.options.cms",
            "must be one of",
        ),
    ],
)
def test_plugin_errors_name_file_line_key(tail: str, line: int, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(HEAD + tail, "gw.yaml", {})
    message = str(info.value)
    assert message.startswith(f"gw.yaml:{line}: "), message
    assert key in message and reason in message


def test_contact_id_and_username_expand_references() -> None:
    text = HEAD + (
        "    auth: {scheme: authx-jwt, sign_keys: '${env:SIGN}'}\n"
        "identities:\n  - match: {sub: svc}\n    civi: {contact_id: '${env:CID}'}\n"
    )
    config = load_config_text(text, "gw.yaml", {"SIGN": "jwt-hs256:hkdf-sha256:abcdefghijkl", "CID": "42"})
    assert config.identities[0].crm["civi"].fixed["contact_id"].reveal() == "42"
