"""Signers declare themselves (scheme, options, secret options, identity fields, dialects) and the loader
reads only that: secret options are resolved as secrets, unknown ones refused, shared settings set once."""

from __future__ import annotations

import pytest

from gateway.assembly import build_dialect, build_signer
from gateway.config.loader import load_config_text
from gateway.dialects import registry as dialects
from gateway.errors import ConfigError
from gateway.signers.registry import SIGNERS, credential_names

HEAD = """\
identity:
  issuers:
    - issuer: https://idp.test
      audiences: [crm-gateway]
      algorithms: [HS256]
      hs256_secrets: [a-test-secret-that-is-long-enough-0123456789]
upstreams:
  crm:
    url: http://127.0.0.1:9001
    match: {path_prefix: /crm}
"""
VALUES = {
    "site_key": "site-key-0123456789",
    "sign_keys": "jwt-hs256:hkdf-sha256:sign-secret-value",
    "flow": "header",
    "ttl_seconds": 60,
    "reuse": False,
    "digest": "raw",
    "api_path": "/api/v1",
}


def test_every_spec_is_registered_under_its_own_scheme_for_known_dialects() -> None:
    for scheme, spec in SIGNERS.items():
        assert spec.scheme == scheme
        assert spec.dialects and spec.dialects <= set(dialects.names())
        assert spec.secret_options <= spec.options
        assert spec.secret_options | spec.identity_fields <= credential_names()


@pytest.mark.parametrize("scheme", sorted(SIGNERS))
def test_declared_secret_options_are_loaded_as_secrets(scheme: str) -> None:
    spec = SIGNERS[scheme]
    dialect = sorted(spec.dialects)[0]
    options = ", ".join(f"{key}: {VALUES[key]!r}" for key in sorted(spec.options))
    text = (
        HEAD + f"    dialect: {dialect}\n    auth: {{scheme: {scheme}{', ' if options else ''}{options}}}\n"
    )
    config = load_config_text(text, "gateway.yaml")
    secrets = {secret.reveal() for secret in config.secrets}
    assert {str(VALUES[key]) for key in spec.secret_options} <= secrets
    assert not {str(VALUES[key]) for key in spec.options - spec.secret_options} & secrets
    assert build_signer(config.upstream("crm")).scheme == scheme


def test_a_misplaced_credential_option_stays_secret_when_refused() -> None:
    text = HEAD + "    dialect: espocrm\n    auth: {scheme: espo-apikey, token: 'hidden-token-value'}\n"
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "gateway.yaml")
    assert caught.value.key == "upstreams.crm.auth.token"
    assert "hidden-token-value" not in str(caught.value)


@pytest.mark.parametrize(
    ("options", "auth", "signed_below"),
    [
        ("", "", "/api/v1"),
        ("    options: {api_path: ''}\n", "", ""),
        ("    options: {api_path: /crm/api/v1/}\n", "", "/crm/api/v1"),
        ("    options: {api_path: ''}\n", ", api_path: ''", ""),
    ],
)
def test_espo_api_path_is_configured_once_in_the_dialect(options: str, auth: str, signed_below: str) -> None:
    text = HEAD + f"    dialect: espocrm\n{options}    auth: {{scheme: espo-hmac{auth}}}\n"
    up = load_config_text(text, "gateway.yaml").upstream("crm")
    signer, dialect = build_signer(up), build_dialect(up)
    assert signer.api_path == signed_below == dialect.api_path  # type: ignore[attr-defined]


def test_a_second_different_api_path_is_refused() -> None:
    text = HEAD + "    dialect: espocrm\n    auth: {scheme: espo-hmac, api_path: ''}\n"
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "gateway.yaml")
    assert caught.value.key == "upstreams.crm.auth.api_path"
    assert "set it once, in options" in caught.value.reason


def test_plain_fields_are_the_ones_generic_code_spelled_out_before() -> None:
    from gateway.identities import PLAIN_FIELDS

    assert set(PLAIN_FIELDS) == {"contact_id", "username", "act_as"}


@pytest.mark.parametrize("scheme", sorted(SIGNERS))
def test_a_person_field_is_plain_and_plain_fields_are_identity_fields(scheme: str) -> None:
    spec = SIGNERS[scheme]
    assert set(spec.person_fields) <= set(spec.plain_fields)
    assert set(spec.plain_fields) <= spec.identity_fields | spec.person_fields.keys()
    assert not spec.field_refusals.keys() & (spec.identity_fields | spec.person_fields.keys())
