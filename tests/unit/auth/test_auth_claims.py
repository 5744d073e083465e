from __future__ import annotations

from typing import Any

import pytest

from gateway.auth.jwt import build_principal, check_claims, parse_unverified
from gateway.auth.settings import AuthSettings, IssuerSettings
from gateway.errors import AuthenticationError
from tests.support.jwt_factory import AUDIENCE, ISSUER, b64url, claims, forge

NOW = 1_700_000_000.0
ISS = IssuerSettings(issuer=ISSUER, audiences=(AUDIENCE, "other-aud"), static_keys=())
SETTINGS = AuthSettings(issuers=(ISS,), leeway_seconds=30, max_lifetime_seconds=3600)


def _claims(**overrides: Any) -> dict[str, Any]:
    return claims(now=NOW, **overrides)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({}, id="plain"),
        pytest.param({"aud": ["x", "other-aud"]}, id="aud-list-any-match"),
        pytest.param({"exp": NOW - 29}, id="expired-within-leeway"),
        pytest.param({"nbf": NOW + 29}, id="nbf-within-leeway"),
        pytest.param({"iat": NOW + 29, "nbf": None}, id="iat-within-leeway"),
        pytest.param({"iat": NOW - 100, "exp": NOW + 3500}, id="lifetime-exactly-max"),
        pytest.param({"nbf": None}, id="no-nbf"),
        pytest.param({"exp": NOW + 10.5}, id="float-exp"),
    ],
)
def test_valid_claims_pass(overrides: dict[str, Any]) -> None:
    check_claims(_claims(**overrides), ISS, SETTINGS, NOW)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": NOW - 30}, "token-expired"),
        ({"exp": NOW - 3000, "iat": NOW - 3100}, "token-expired"),
        ({"nbf": NOW + 31}, "token-not-yet-valid"),
        ({"iat": NOW + 31, "nbf": None}, "token-not-yet-valid"),
        ({"iss": "https://evil.example"}, "wrong-issuer"),
        ({"iss": [ISSUER]}, "wrong-issuer"),
        ({"aud": "someone-else"}, "wrong-audience"),
        ({"aud": ["a", "b"]}, "wrong-audience"),
        ({"aud": None}, "missing-claim"),
        ({"aud": 7}, "invalid-claim"),
        ({"aud": [AUDIENCE, 7]}, "invalid-claim"),
        ({"exp": None}, "missing-claim"),
        ({"iat": None}, "missing-claim"),
        ({"sub": None}, "missing-claim"),
        ({"sub": ""}, "invalid-claim"),
        ({"sub": 42}, "invalid-claim"),
        ({"exp": "tomorrow"}, "invalid-claim"),
        ({"exp": True}, "invalid-claim"),
        ({"nbf": "now"}, "invalid-claim"),
        ({"iat": NOW - 10, "exp": NOW + 3591}, "lifetime-too-long"),
    ],
)
def test_bad_claims_are_refused(overrides: dict[str, Any], reason: str) -> None:
    with pytest.raises(AuthenticationError) as caught:
        check_claims(_claims(**overrides), ISS, SETTINGS, NOW)
    assert caught.value.reason == reason


def test_lifetime_without_iat_counts_from_now() -> None:
    settings = AuthSettings(issuers=(ISS,), required_claims=("exp",), max_lifetime_seconds=3600)
    check_claims(_claims(iat=None, exp=NOW + 3600), ISS, settings, NOW)
    with pytest.raises(AuthenticationError) as caught:
        check_claims(_claims(iat=None, exp=NOW + 3601), ISS, settings, NOW)
    assert caught.value.reason == "lifetime-too-long"


def test_exp_is_required_even_when_not_listed() -> None:
    settings = AuthSettings(issuers=(ISS,), required_claims=())
    with pytest.raises(AuthenticationError) as caught:
        check_claims(_claims(exp=None), ISS, settings, NOW)
    assert caught.value.reason == "missing-claim"


def test_custom_required_claim() -> None:
    settings = AuthSettings(issuers=(ISS,), required_claims=("exp", "iat", "jti"))
    check_claims(_claims(jti="abc"), ISS, settings, NOW)
    with pytest.raises(AuthenticationError, match="jti") as caught:
        check_claims(_claims(), ISS, settings, NOW)
    assert caught.value.reason == "missing-claim"


@pytest.mark.parametrize(
    ("token_claims", "roles_claims", "scopes_claim", "roles", "scopes"),
    [
        ({"roles": ["a", "b"], "scope": "read write"}, ("roles",), "scope", {"a", "b"}, {"read", "write"}),
        ({"roles": "a  b", "scope": ["read"]}, ("roles",), "scope", {"a", "b"}, {"read"}),
        (
            {"realm_access": {"roles": ["kc-admin"]}, "groups": ["g"]},
            ("realm_access.roles", "groups"),
            "scope",
            {"kc-admin", "g"},
            set(),
        ),
        ({"https://example.org/roles": ["ns"]}, ("https://example.org/roles",), "scp", {"ns"}, set()),
        ({"scp": "x y"}, ("roles",), "scp", set(), {"x", "y"}),
        ({"realm_access": "not-an-object"}, ("realm_access.roles",), "scope", set(), set()),
    ],
)
def test_principal_roles_and_scopes(
    token_claims: dict[str, Any],
    roles_claims: tuple[str, ...],
    scopes_claim: str,
    roles: set[str],
    scopes: set[str],
) -> None:
    settings = AuthSettings(issuers=(ISS,), roles_claims=roles_claims, scopes_claim=scopes_claim)
    principal = build_principal(_claims(**token_claims), ISS, settings)
    assert principal.roles == frozenset(roles)
    assert principal.scopes == frozenset(scopes)
    assert principal.subject == "user-1"
    assert principal.issuer == ISSUER
    assert principal.expires_at == NOW + 300


def test_principal_claim_is_configurable_and_claims_are_read_only() -> None:
    settings = AuthSettings(issuers=(ISS,), principal_claim="client_id")
    principal = build_principal(_claims(client_id="svc-sync"), ISS, settings)
    assert principal.subject == "svc-sync"
    assert principal.claims["client_id"] == "svc-sync"
    with pytest.raises(TypeError):
        principal.claims["sub"] = "other"  # type: ignore[index]


def test_roles_claim_of_wrong_type_is_invalid() -> None:
    with pytest.raises(AuthenticationError) as caught:
        build_principal(_claims(roles={"admin": True}), ISS, SETTINGS)
    assert caught.value.reason == "invalid-claim"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("", id="empty"),
        pytest.param("abc", id="one-segment"),
        pytest.param("a.b", id="two-segments"),
        pytest.param("a.b.c.d", id="four-segments"),
        pytest.param(f"{b64url({'alg': 'RS256'})}.{b64url({'sub': 'x'})}.sig=", id="padding"),
        pytest.param(f"{b64url({'alg': 'RS256'})}.{b64url({'sub': 'x'})}.s+g", id="not-base64url"),
        pytest.param(f"{b64url(b'not json')}.{b64url({'sub': 'x'})}.c2ln", id="header-not-json"),
        pytest.param(f"{b64url(b'[1]')}.{b64url({'sub': 'x'})}.c2ln", id="header-not-object"),
        pytest.param(f"{b64url({'alg': 'RS256'})}.{b64url(b'[]')}.c2ln", id="payload-not-object"),
        pytest.param(f"{b64url({'typ': 'JWT'})}.{b64url({'sub': 'x'})}.c2ln", id="no-alg"),
        pytest.param(forge({"alg": "RS256", "kid": 5}, {"sub": "x"}, b"s"), id="kid-not-string"),
        pytest.param(forge({"alg": "RS256", "crit": ["exp"], "exp": 1}, {"sub": "x"}, b"s"), id="crit"),
        pytest.param(forge({"alg": "RS256", "b64": False}, {"sub": "x"}, b"s"), id="b64-false"),
        pytest.param(f"{b64url(b'[' * 5000)}.{b64url({'sub': 'x'})}.c2ln", id="deep-nesting"),
    ],
)
def test_malformed_structure(token: str) -> None:
    with pytest.raises(AuthenticationError) as caught:
        parse_unverified(token)
    assert caught.value.reason == "malformed-token"


def test_parse_unverified_reads_alg_and_kid() -> None:
    parsed = parse_unverified(forge({"alg": "ES256", "kid": "k1"}, {"iss": ISSUER}, b"sig"))
    assert (parsed.alg, parsed.kid, parsed.claims["iss"]) == ("ES256", "k1", ISSUER)
