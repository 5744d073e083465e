"""``identities`` with fields from claims and look-ups, and ``lookups``: what loads, and what is refused
at load time with file:line, key and reason."""

from __future__ import annotations

import json

import pytest

from gateway.auth.token_mint import generate_dev_key
from gateway.config.loader import load_config_text
from gateway.errors import ConfigError
from gateway.identity.spec import FromClaim, FromLookup

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
    auth: {{scheme: authx-jwt, sign_keys: 'jwt-hs256:hkdf-sha256:abcdefghijkl'}}
  legacy:
    dialect: civicrm
    url: http://127.0.0.1:9
    match: {{path_prefix: /legacy}}
    auth: {{scheme: civicrm-keys, site_key: '0123456789abcdef'}}
  espo:
    dialect: espocrm
    url: http://127.0.0.1:9
    match: {{path_prefix: /espo}}
    auth: {{scheme: espo-basic}}
  espo-key:
    dialect: espocrm
    url: http://127.0.0.1:9
    match: {{path_prefix: /espo-key}}
    auth: {{scheme: espo-apikey}}
"""
IDENTITIES_LINE = HEAD.count("\n") + 1


def load(tail: str) -> object:
    return load_config_text(HEAD + tail, "gw.yaml", {})


def test_fields_from_claims_and_look_ups_load() -> None:
    config = load_config_text(
        HEAD
        + """identities:
  - match: {roles: staff}
    unresolved: next
    civi: {contact_id: {lookup: {by: email, claim: email}}}
    espo: {username: gw_admin, password: pw-123456, act_as: {claim: preferred_username}}
  - match: {roles: staff}
    civi: {contact_id: {claim: civicrm_contact_id}}
lookups:
  civi: {identity: {contact_id: 5}, ttl_seconds: 120}
""",
        "gw.yaml",
        {},
    )
    first, second = config.identities
    assert first.unresolved == "next"
    assert first.crm["civi"].derived == {"contact_id": FromLookup("email", "email")}
    assert first.crm["espo"].derived == {"act_as": FromClaim("preferred_username")}
    assert second.crm["civi"].derived == {"contact_id": FromClaim("civicrm_contact_id")}
    assert config.lookups["civi"].ttl_seconds == 120.0
    assert config.lookups["civi"].identity["contact_id"].reveal() == "5"


L = IDENTITIES_LINE


@pytest.mark.parametrize(
    ("tail", "line", "key", "reason"),
    [
        pytest.param(
            "identities:\n  - match: {sub: a}\n    legacy: {api_key: {claim: key}}\n",
            L + 2,
            "identities[0].legacy.api_key",
            "cannot come from a claim",
            id="secret-from-claim",
        ),
        pytest.param(
            "identities:\n  - match: {sub: a}\n    espo-key: {api_key: k-1, act_as: {claim: u}}\n",
            L + 2,
            "identities[0].espo-key.act_as",
            "cannot act as another user",
            id="act-as-with-api-key",
        ),
        pytest.param(
            "identities:\n  - match: {sub: a}\n"
            "    civi: {contact_id: {claim: c, lookup: {by: email, claim: e}}}\n",
            L + 2,
            "identities[0].civi.contact_id",
            "exactly one of claim or lookup",
            id="claim-and-lookup",
        ),
        pytest.param(
            "identities:\n  - match: {sub: a}\n    civi: {contact_id: {lookup: {by: phone, claim: p}}}\n",
            L + 2,
            "identities[0].civi.contact_id.lookup.by",
            "known: email, external_identifier, uf_id, uf_name",
            id="unknown-way",
        ),
        pytest.param(
            "identities:\n  - match: {sub: a}\n    civi: {contact_id: {lookup: {by: email, claim: e}}}\n",
            L + 2,
            "identities[0].civi.contact_id.lookup.by",
            "lookups.civi.identity",
            id="lookup-without-service-identity",
        ),
        pytest.param(
            "identities:\n  - match: {sub: a}\n"
            "    espo: {username: u, password: p, act_as: {lookup: {by: phone, claim: e}}}\n",
            L + 2,
            "identities[0].espo.act_as.lookup.by",
            "espocrm cannot look up act_as by 'phone'; known: email",
            id="espo-lookup",
        ),
        pytest.param(
            "identities:\n  - match: {sub: a}\n    civi: {contact_id: abc}\n",
            L + 2,
            "identities[0].civi.contact_id",
            "positive integer",
            id="constant-contact-id",
        ),
        pytest.param(
            "identities:\n  - match: {sub: a}\n    unresolved: next\n    civi: {contact_id: 4}\n",
            L + 2,
            "identities[0].unresolved",
            "'next' applies only",
            id="next-without-person",
        ),
        pytest.param(
            "lookups:\n  civi: {identity: {contact_id: {claim: c}}}\n",
            L + 1,
            "lookups.civi.identity",
            "fixed",
            id="service-identity-from-claim",
        ),
        pytest.param(
            "lookups:\n  espo: {identity: {username: u, password: p-123, act_as: jdoe}}\n",
            L + 1,
            "lookups.espo.identity",
            "acts as itself",
            id="service-identity-acting-as",
        ),
        pytest.param(
            "lookups:\n  civi:\n    identity: {contact_id: 5}\n    ttl_seconds: 0\n",
            L + 3,
            "lookups.civi.ttl_seconds",
            "greater than 0",
            id="zero-ttl",
        ),
    ],
)
def test_refused_at_load_with_file_line_and_key(tail: str, line: int, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tail)
    assert (caught.value.file, caught.value.key) == ("gw.yaml", key)
    assert reason in caught.value.reason
    assert caught.value.line == line
