"""revocation: in YAML: defaults, the limiter's Redis by default, errors with file:line."""

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
  espo:
    dialect: espocrm
    url: http://127.0.0.1:9
    match: {{path_prefix: /espo}}
    auth: {{scheme: espo-apikey}}
"""
REDIS = "ratelimit: {backend: redis, url: 'redis://127.0.0.1:6390/0'}\n"


def test_defaults_to_memory_and_deny() -> None:
    config = load_config_text(HEAD, "gw.yaml", {})
    assert (config.revocation.backend, config.revocation.on_error, config.revocation.url) == (
        "memory",
        "deny",
        None,
    )


def test_redis_uses_the_limiters_url_by_default() -> None:
    config = load_config_text(HEAD + REDIS + "revocation: {backend: redis}\n", "gw.yaml", {})
    assert config.revocation.url is not None and config.revocation.url.reveal() == "redis://127.0.0.1:6390/0"


@pytest.mark.parametrize(
    ("tail", "line", "key", "reason"),
    [
        ("revocation: {backend: redis}\n", 13, "revocation.backend", "needs revocation.url"),
        ("revocation: {backend: disk}\n", 13, "revocation.backend", "must be one of"),
        (
            REDIS + "revocation: {backend: redis, on_error: local}\n",
            14,
            "revocation.on_error",
            "must be one of",
        ),
        ("revocation: {url: 'redis://x'}\n", 13, "revocation.url", "only with backend: redis"),
        (
            REDIS + "revocation: {backend: redis, timeout_ms: 0}\n",
            14,
            "revocation.timeout_ms",
            "greater than 0",
        ),
    ],
)
def test_errors_name_file_line_key(tail: str, line: int, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config_text(HEAD + tail, "gw.yaml", {})
    message = str(refused.value)
    assert message.startswith(f"gw.yaml:{line}: {key}: "), message
    assert reason in message
