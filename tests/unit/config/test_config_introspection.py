"""identity.issuers[i].introspection in YAML: loads, secrets through references, errors with file:line."""

from __future__ import annotations

import pytest

from gateway.config.loader import load_config_text
from gateway.errors import ConfigError

HEAD = """identity:
  issuers:
    - issuer: https://idp.test
      audiences: [crm-gateway]
      introspection:
        url: https://idp.test/oauth2/introspect
        client_id: crm-gateway
"""
TAIL = """upstreams:
  espo:
    dialect: espocrm
    url: http://127.0.0.1:9
    match: {path_prefix: /espo}
    auth: {scheme: espo-apikey}
"""


def test_an_introspection_only_issuer_loads_with_its_secret_by_reference() -> None:
    text = HEAD + "        client_secret: ${env:IDP_SECRET}\n        on_error: cached\n" + TAIL
    config = load_config_text(text, "gw.yaml", {"IDP_SECRET": "s3cret"})
    settings = config.auth.issuers[0].introspection
    assert settings is not None and settings.on_error == "cached"
    assert settings.client_secret is not None and settings.client_secret.reveal() == "s3cret"
    assert "s3cret" not in repr(config.auth)


@pytest.mark.parametrize(
    ("lines", "line", "key", "reason"),
    [
        ("        client_secret: s\n        on_error: allow\n", 9, "on_error", "never allow"),
        ("        client_secret: s\n        auth: client_secret_jwt\n", 9, "auth", "must be one of"),
        ("        auth: client_secret_post\n", 6, "client_secret", "needs client_secret"),
        (
            "        client_secret: s\n        cache_ttl_seconds: 0\n",
            9,
            "cache_ttl_seconds",
            "greater than 0",
        ),
        ("        client_secret: s\n        colour: blue\n", 9, "colour", "unknown key"),
    ],
)
def test_errors_name_file_line_and_key(lines: str, line: int, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config_text(HEAD + lines + TAIL, "gw.yaml", {})
    message = str(refused.value)
    assert message.startswith(f"gw.yaml:{line}: identity.issuers[0].introspection.{key}: "), message
    assert reason in message
