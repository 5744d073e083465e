from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from gateway.auth.settings import AuthSettings, IssuerSettings, StaticKey, validate
from gateway.errors import ConfigError
from gateway.secrets import Secret
from tests.support.jwt_factory import make_key

SECRET = Secret("s" * 32)
JWKS_URL = "https://idp.test/jwks"
ALGS = "identity.issuers[0].algorithms"


def _issuer(**overrides: Any) -> IssuerSettings:
    values: dict[str, Any] = {"issuer": "https://idp.test", "audiences": ("gw",), "jwks_url": JWKS_URL}
    values.update(overrides)
    return IssuerSettings(**values)


def _settings(*issuers: IssuerSettings, **overrides: Any) -> AuthSettings:
    return AuthSettings(issuers=issuers or (_issuer(),), **overrides)


def test_defaults_are_valid() -> None:
    validate(_settings())


@pytest.mark.parametrize(
    "issuer",
    [
        pytest.param(
            _issuer(jwks_url=None, static_keys=(StaticKey(None, make_key("RS256").public_pem),)),
            id="static-pem",
        ),
        pytest.param(
            _issuer(
                jwks_url=None,
                algorithms=("ES256",),
                static_keys=(StaticKey("k", json.dumps(make_key("ES256").jwk)),),
            ),
            id="static-jwk",
        ),
        pytest.param(_issuer(jwks_url=None, algorithms=("HS256",), hs256_secrets=(SECRET,)), id="hs256-only"),
        pytest.param(
            _issuer(algorithms=("RS256", "HS512"), hs256_secrets=(Secret("s" * 64),)), id="jwks-and-hmac"
        ),
        pytest.param(_issuer(algorithms=("EdDSA", "PS256", "ES384")), id="other-asymmetric"),
    ],
)
def test_valid_issuers(issuer: IssuerSettings) -> None:
    validate(_settings(issuer))


@pytest.mark.parametrize(
    ("settings", "key", "fragment"),
    [
        (_settings(_issuer(algorithms=("RS256", "XS999"))), ALGS, "unknown algorithm"),
        (_settings(_issuer(algorithms=("none",))), "identity.issuers[0].algorithms", "'none'"),
        (_settings(_issuer(algorithms=("RS256", "None"))), "identity.issuers[0].algorithms", "'none'"),
        (_settings(_issuer(algorithms=())), "identity.issuers[0].algorithms", "at least one"),
        (_settings(_issuer(algorithms=("RS256", "HS256"))), ALGS, "no hs256_secrets"),
        (_settings(_issuer(hs256_secrets=(SECRET,))), "identity.issuers[0].hs256_secrets", "HS256"),
        (
            _settings(_issuer(jwks_url=None, algorithms=("HS256", "RS256"), hs256_secrets=(SECRET,))),
            "identity.issuers[0].algorithms",
            "no jwks_url or keys",
        ),
        (_settings(_issuer(jwks_url=None)), "identity.issuers[0]", "no key source"),
        (_settings(_issuer(jwks_url="ftp://idp.test/jwks")), "identity.issuers[0].jwks_url", "http"),
        (_settings(_issuer(audiences=())), "identity.issuers[0].audiences", "audience"),
        (_settings(_issuer(issuer="")), "identity.issuers[0].issuer", "empty"),
        (_settings(_issuer(), _issuer()), "identity.issuers[1].issuer", "twice"),
        (_settings(_issuer(jwks_ttl_seconds=0)), "identity.issuers[0].jwks_ttl_seconds", "greater than 0"),
        (
            _settings(_issuer(algorithms=("HS256",), hs256_secrets=(Secret("short"),))),
            "identity.issuers[0].hs256_secrets[0]",
            "32 bytes",
        ),
        (
            _settings(_issuer(algorithms=("HS256", "HS512"), hs256_secrets=(Secret("s" * 63),))),
            "identity.issuers[0].hs256_secrets[0]",
            "64 bytes",
        ),
        (_settings(slots=()), "identity.token_slots", "at least one token slot"),
        (_settings(principal_claim=""), "identity.principal_claim", "empty"),
        (_settings(max_token_bytes=0), "identity.max_token_bytes", "greater than 0"),
        (_settings(leeway_seconds=-1), "identity.leeway_seconds", "between"),
        (AuthSettings(issuers=()), "identity.issuers", "at least one issuer"),
    ],
)
def test_invalid_settings(settings: AuthSettings, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate(settings)
    assert caught.value.key == key
    assert fragment in caught.value.reason


PRIVATE_JWK = {**make_key("ES256").jwk, "d": "c2VjcmV0LWQ"}


@pytest.mark.parametrize(
    ("static", "fragment"),
    [
        pytest.param(
            StaticKey(None, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"),
            "not a readable PEM",
            id="garbage-pem",
        ),
        pytest.param(StaticKey(None, make_key("RS256").private_pem), "private key", id="private-pem"),
        pytest.param(StaticKey(None, json.dumps(PRIVATE_JWK)), "private key", id="private-jwk"),
        pytest.param(StaticKey(None, '{"kty": "oct", "k": "c2VjcmV0"}'), "hs256_secrets", id="oct-jwk"),
        pytest.param(StaticKey(None, "{not json"), "not valid JWK JSON", id="bad-json"),
        pytest.param(StaticKey(None, "just text"), "expected PEM text or JWK JSON", id="neither"),
        pytest.param(
            StaticKey(None, make_key("ES256").public_pem), "fits none of the algorithms", id="ec-key-rsa-only"
        ),
    ],
)
def test_bad_static_keys_name_the_issuer_never_the_key(static: StaticKey, fragment: str) -> None:
    settings = _settings(_issuer(algorithms=("RS256",), static_keys=(static,)))
    with pytest.raises(ConfigError) as caught:
        validate(settings)
    assert caught.value.key == "identity.issuers[0].keys[0]"
    assert fragment in caught.value.reason
    assert "https://idp.test" in caught.value.reason
    body = static.key.strip().splitlines()
    assert not any(line in str(caught.value) for line in body if len(line) > 12)


def test_secrets_never_appear_in_reprs() -> None:
    issuer = _issuer(
        algorithms=("HS256",),
        hs256_secrets=(Secret("topsecret" * 4),),
        static_keys=(StaticKey("k", make_key("RS256").public_pem),),
    )
    text = repr(_settings(issuer))
    assert "topsecret" not in text
    assert "BEGIN PUBLIC KEY" not in text


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        _issuer().issuer = "x"  # type: ignore[misc]
