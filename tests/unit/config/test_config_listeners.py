"""match.port: each upstream's own listener, refused at load (file:line: key: reason) when it collides."""

from __future__ import annotations

import json

import pytest

from gateway.auth.token_mint import generate_dev_key
from gateway.config.loader import load_config_text
from gateway.errors import ConfigError

_, JWK = generate_dev_key("ES256")


def config(
    espo_match: str, *, listen: int = 8080, admin: str = "", other_match: str = "{path_prefix: /a}"
) -> str:
    return f"""listen: {{port: {listen}}}
identity:
  issuers:
    - issuer: https://idp.test
      audiences: [crm-gateway]
      algorithms: [ES256]
      keys: [{{jwk: '{json.dumps(JWK)}'}}]
upstreams:
  first:
    dialect: espocrm
    url: http://127.0.0.1:9
    match: {other_match}
    auth: {{scheme: espo-apikey}}
  espo:
    dialect: espocrm
    url: http://127.0.0.1:9
    match:
      {espo_match}
    auth: {{scheme: espo-apikey}}
{admin}"""


def test_an_upstream_matched_by_port_alone_loads() -> None:
    loaded = load_config_text(config("port: 8081"), "gw.yaml", {})
    espo = loaded.upstream("espo")
    assert espo.port == 8081 and espo.path_prefix is None and espo.hosts == ()


@pytest.mark.parametrize(
    ("text", "line", "key", "reason"),
    [
        (config("port: 8080"), 18, "upstreams.espo.match.port", "main listener"),
        (
            config("port: 9000", admin="observability: {admin: {port: 9000}}\n"),
            18,
            "upstreams.espo.match.port",
            "admin listener",
        ),
        (config("port: 0"), 18, "upstreams.espo.match.port", "between 1 and 65535"),
        (config("port: 70000"), 18, "upstreams.espo.match.port", "between 1 and 65535"),
        (config("port: '8081'"), 18, "upstreams.espo.match.port", "integer"),
        (config("port: 8081", other_match="{port: 8081}"), 18, "upstreams.espo.match.port", "'first'"),
        (config("path_prefix: /a"), 18, "upstreams.espo.match.path_prefix", "same requests"),
        (config("{}"), 15, "upstreams.espo.match", "match.port"),
    ],
)
def test_listener_conflicts_name_file_line_key(text: str, line: int, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, "gw.yaml", {})
    message = str(info.value)
    assert message.startswith(f"gw.yaml:{line}: {key}: "), message
    assert reason in message


def test_two_ports_and_a_port_plus_host_are_distinct() -> None:
    loaded = load_config_text(
        config("{port: 8081, host: [b.example]}", other_match="{port: 8081, host: [a.example]}"),
        "gw.yaml",
        {},
    )
    assert {up.port for up in loaded.upstreams} == {8081}
