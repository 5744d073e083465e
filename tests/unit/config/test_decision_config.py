"""The decision: section: what loads, and what is refused at load time with file, line, key and reason."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config.decision_model import DecisionConfig
from gateway.config.loader import load_config_text
from gateway.config.model import GatewayConfig
from gateway.errors import ConfigError

BASE = """\
identity:
  issuers:
    - issuer: https://idp.test
      audiences: [crm-gateway]
      algorithms: [HS256]
      hs256_secrets: [a-test-secret-that-is-long-enough-0123456789]
upstreams:
  civi:
    dialect: civicrm
    url: http://127.0.0.1:9001
    match: {path_prefix: /civi}
    auth: {scheme: authx-jwt, sign_keys: 'jwt-hs256:hkdf-sha256:sign-secret'}
  civi-header:
    dialect: civicrm
    url: http://127.0.0.1:9001
    match: {path_prefix: /civi-header}
    auth: {scheme: authx-jwt, sign_keys: 'jwt-hs256:hkdf-sha256:sign-secret', flow: header}
  civi-apikey:
    dialect: civicrm
    url: http://127.0.0.1:9001
    match: {path_prefix: /civi-apikey}
    auth: {scheme: authx-apikey, site_key: 'site-key-0123456789', flow: xheader}
  civi-keys:
    dialect: civicrm
    url: http://127.0.0.1:9001
    match: {path_prefix: /civi-keys}
    auth: {scheme: civicrm-keys, site_key: 'site-key-0123456789'}
  civi-param:
    dialect: civicrm
    url: http://127.0.0.1:9001
    match: {path_prefix: /civi-param}
    auth: {scheme: authx-jwt, sign_keys: 'jwt-hs256:hkdf-sha256:sign-secret', flow: param}
  espo:
    dialect: espocrm
    url: http://127.0.0.1:9002
    match: {host: espo.example.test}
    auth: {scheme: espo-hmac}
  espo-root:
    dialect: espocrm
    url: http://127.0.0.1:9002
    match: {port: 18081}
    auth: {scheme: espo-hmac}
"""


def load(decision: str) -> GatewayConfig:
    return load_config_text(BASE + decision, "gateway.yaml")


def test_no_section_means_no_decision_mode() -> None:
    assert load("").decision == DecisionConfig()
    assert not load("").decision.enabled
    assert not load("decision: {}\n").decision.enabled


def test_a_full_section() -> None:
    decision = load(
        "decision:\n"
        "  path: /_authz/crm\n"
        "  trusted_proxies: [10.0.0.0/8, 127.0.0.1, '::1']\n"
        "  upstreams: [civi, civi-header, espo, civi]\n"
    ).decision
    assert decision.enabled and decision.path == "/_authz/crm"
    assert decision.denial_path == "/_authz/crm/denial"
    assert decision.upstreams == ("civi", "civi-header", "espo")
    assert decision.trusted_proxies[1] == ipaddress.ip_network("127.0.0.1/32")
    assert decision.serves("espo") and not decision.serves("civi-keys")


def test_disabled_section_needs_nothing_else() -> None:
    decision = load("decision: {enabled: false}\n").decision
    assert not decision.enabled and not decision.serves("civi")


@pytest.mark.parametrize(
    ("section", "key", "reason"),
    [
        ("{upstreams: [civi]}", "decision.trusted_proxies", "at least one front proxy"),
        ("{trusted_proxies: [127.0.0.1]}", "decision.upstreams", "at least one upstream"),
        (
            "{trusted_proxies: [not-an-ip], upstreams: [civi]}",
            "decision.trusted_proxies",
            "not an IP address",
        ),
        (
            "{trusted_proxies: [127.0.0.1], upstreams: [nope]}",
            "decision.upstreams",
            "unknown upstream 'nope'",
        ),
        ("{trusted_proxies: [127.0.0.1], upstreams: [civi-keys]}", "decision.upstreams", "query string"),
        ("{trusted_proxies: [127.0.0.1], upstreams: [espo-root]}", "decision.upstreams", "match.port: 18081"),
        ("{trusted_proxies: [127.0.0.1], upstreams: [civi-param]}", "decision.upstreams", "flow param"),
        (
            "{trusted_proxies: [127.0.0.1], upstreams: [civi-apikey]}",
            "decision.upstreams",
            "a field CiviCRM returns in answers",
        ),
        ("{trusted_proxies: [127.0.0.1], upstreams: [civi], path: /civi/authz}", "decision.path", "overlaps"),
        ("{trusted_proxies: [127.0.0.1], upstreams: [civi], path: /}", "decision.path", "absolute path"),
        (
            "{trusted_proxies: [127.0.0.1], upstreams: [civi], path: /a/../b}",
            "decision.path",
            "absolute path",
        ),
        ("{trusted_proxies: [127.0.0.1], upstreams: [civi], path: '/a?b'}", "decision.path", "absolute path"),
        (
            "{trusted_proxies: [127.0.0.1], upstreams: [civi], path: /metrics}",
            "decision.path",
            "own endpoints",
        ),
        (
            "{trusted_proxies: [127.0.0.1], upstreams: [civi], enabled: yes-please}",
            "decision.enabled",
            "boolean",
        ),
        ("{trusted_proxies: [127.0.0.1], upstreams: [civi], paths: /x}", "decision.paths", "unknown key"),
    ],
)
def test_refused_with_key_and_reason(section: str, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(f"decision: {section}\n")
    assert caught.value.key == key
    assert reason in caught.value.reason
    assert caught.value.file == "gateway.yaml" and caught.value.line is not None


def test_check_names_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(BASE + "decision:\n  trusted_proxies: [127.0.0.1]\n  upstreams: [civi-keys]\n")
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:" in err and "decision.upstreams" in err and "civicrm-keys" in err


@pytest.mark.parametrize(
    ("address", "trusted"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("::1", True),
        ("::ffff:10.9.9.9", True),
        ("192.0.2.1", False),
        ("fe80::1%eth0", False),
        ("", False),
        (None, False),
        ("not-an-ip", False),
    ],
)
def test_trusted_sources(address: str | None, trusted: bool) -> None:
    decision = load(
        "decision: {trusted_proxies: [127.0.0.1, 10.0.0.0/8, '::1'], upstreams: [civi]}\n"
    ).decision
    assert decision.trusts(address) is trusted


READS = """
policy: reads
subjects: {principals: [svc]}
upstreams: [civi, espo]
entities:
  "Contact": {get: allow}
"""
DECIDED = "decision:\n  trusted_proxies: [127.0.0.1]\n  upstreams: [espo, civi]\n"
API_KEY_FIELD = """fields:
  Contact: {allow: [api_key]}
"""


@pytest.mark.parametrize(
    ("policy", "refusal"),
    [
        (READS, "allows reading Contact without allowing api_key"),
        (READS.replace('"Contact"', '"*"'), "allows reading Contact without allowing api_key"),
        (READS.replace('"Contact"', "Individual"), "allows reading Individual without allowing api_key"),
        (READS + 'opaque: ["GET civicrm/contact/view"]\n' + API_KEY_FIELD, "opaque routes"),
        (READS + API_KEY_FIELD, None),
        (READS.replace('"Contact"', "Activity"), None),
        (READS.replace("upstreams: [civi, espo]", "upstreams: [espo]"), None),
        (READS.replace("policy: reads", "policy: reads\nmode: shadow"), None),
    ],
)
def test_policies_that_rely_on_the_answer_filter_are_refused(
    tmp_path: Path, policy: str, refusal: str | None
) -> None:
    """Decision mode never sees the CRM's answer, so it cannot remove api_key from it (proxy mode does)."""
    (tmp_path / "reads.yaml").write_text(policy)
    text = f"{BASE}policies: [{tmp_path}/]\n{DECIDED}"
    if refusal is None:
        assert load_config_text(text, "gateway.yaml").decision.serves("civi")
        return
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "gateway.yaml")
    assert (caught.value.key, caught.value.line) == ("decision.upstreams", len(BASE.splitlines()) + 4)
    assert refusal in caught.value.reason
    assert f"{tmp_path}/reads.yaml:2: policy reads" in caught.value.reason


def test_a_policy_denying_api_key_next_to_one_allowing_it_is_refused(tmp_path: Path) -> None:
    (tmp_path / "reads.yaml").write_text(READS + API_KEY_FIELD)
    (tmp_path / "deny.yaml").write_text(
        "policy: deny\nsubjects: {roles: [r]}\nfields:\n  Contact: {deny: [api_key]}\n"
    )
    text = f"{BASE}policies: [{tmp_path}/]\n{DECIDED}"
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "gateway.yaml")
    assert "policy deny denies api_key" in caught.value.reason


@pytest.mark.parametrize("entity", ["Lead", '"*"'])
def test_an_espo_policy_denying_a_field_is_refused_in_decision_mode(tmp_path: Path, entity: str) -> None:
    (tmp_path / "reads.yaml").write_text(READS + API_KEY_FIELD + f"  {entity}: {{deny: [assignedUser]}}\n")
    text = f"{BASE}policies: [{tmp_path}/]\n{DECIDED}"
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "gateway.yaml")
    assert "upstream espo:" in caught.value.reason
    assert f"{tmp_path}/reads.yaml:2: policy reads denies assignedUser (fields." in caught.value.reason
    accepted = text + "  request_only_field_rules: true\n"
    assert load_config_text(accepted, "gateway.yaml").decision.upstreams == ("espo", "civi")
    (tmp_path / "reads.yaml").write_text(READS + API_KEY_FIELD)
    assert load_config_text(text, "gateway.yaml").decision.upstreams == ("espo", "civi")
