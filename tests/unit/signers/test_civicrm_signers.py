"""The CiviCRM signers driven directly: options, every flow, JWT minting against the vectors."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict

from gateway.errors import BadRequest, ConfigError, GatewayError
from gateway.sandbox.civicrm_jwt import decode_jwt, parse_sign_keys
from gateway.secrets import Secret
from gateway.signers import civicrm_authx, civicrm_keys
from gateway.signers.base import OutboundRequest
from gateway.signers.registry import spec_for

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "vectors" / "civicrm-authx-jwt.json").read_text()
)
SITE_KEY = Secret("site-key-123456", "test")
SIGN_KEYS = Secret("jwt-hs256:hkdf-sha256:oracle-sign-secret-1", "test")
API_KEY_IDENTITY = {"api_key": Secret("user-api-key", "test")}


def outbound(
    method: str = "GET",
    *,
    form: list[tuple[str, str]] | None = None,
    body: bytes | None = None,
    query: list[tuple[str, str]] | None = None,
) -> OutboundRequest:
    return OutboundRequest(
        method, "/civicrm/ajax/api4/Contact/get", list(query or []), CIMultiDict(), form=form, body=body
    )


def build(scheme: str, **options: Any) -> Any:
    spec = spec_for(scheme)
    assert spec is not None
    return spec.factory(options, "upstreams.civi.auth")


@pytest.mark.parametrize(
    ("scheme", "identity_fields"),
    [
        ("civicrm-keys", {"api_key"}),
        ("authx-apikey", {"api_key"}),
        ("authx-jwt", {"contact_id"}),
        ("authx-basic", {"username", "password"}),
    ],
)
def test_schemes_are_registered_for_the_civicrm_dialect(scheme: str, identity_fields: set[str]) -> None:
    spec = spec_for(scheme)
    assert spec is not None
    assert spec.identity_fields == identity_fields
    assert spec.dialects == frozenset({"civicrm"})


@pytest.mark.parametrize(
    ("scheme", "options", "bad_key", "fragment"),
    [
        ("civicrm-keys", {}, "site_key", "required"),
        ("civicrm-keys", {"site_key": Secret("Xq7zzK", "t")}, "site_key", "at least 8"),
        ("civicrm-keys", {"site_key": SITE_KEY, "flow": "param"}, "flow", "unknown option"),
        ("civicrm-keys", {"site_key": 12345678}, "site_key", "expected a secret"),
        ("civicrm-keys", {"site_key": Secret("two\nlines-key", "t")}, "site_key", "single line"),
        ("authx-apikey", {"flow": "cookie"}, "flow", "must be one of"),
        ("authx-apikey", {"flow": 3}, "flow", "must be one of"),
        ("authx-apikey", {"api_key": SITE_KEY}, "api_key", "unknown option"),
        ("authx-apikey", {"site_key": Secret(" padded-key ", "t")}, "site_key", "non-empty"),
        ("authx-basic", {"sign_keys": SIGN_KEYS}, "sign_keys", "unknown option"),
        ("authx-jwt", {}, "sign_keys", "required"),
        ("authx-jwt", {"sign_keys": SIGN_KEYS, "site_key": SITE_KEY}, "site_key", "unknown option"),
        ("authx-jwt", {"sign_keys": Secret("jwt-hs256:hkdf-sha256:a:b", "t")}, "sign_keys", "truncate"),
        ("authx-jwt", {"sign_keys": Secret("aes-cbc:hkdf-sha256:abc", "t")}, "sign_keys", "no jwt-* entry"),
        ("authx-jwt", {"sign_keys": SIGN_KEYS, "ttl_seconds": 0}, "ttl_seconds", "1 to 3600"),
        ("authx-jwt", {"sign_keys": SIGN_KEYS, "ttl_seconds": 3601}, "ttl_seconds", "1 to 3600"),
        ("authx-jwt", {"sign_keys": SIGN_KEYS, "ttl_seconds": True}, "ttl_seconds", "1 to 3600"),
        ("authx-jwt", {"sign_keys": SIGN_KEYS, "ttl_seconds": "300"}, "ttl_seconds", "1 to 3600"),
        ("authx-jwt", {"sign_keys": SIGN_KEYS, "reuse": "yes"}, "reuse", "true or false"),
        ("authx-jwt", {"sign_keys": SIGN_KEYS, "flow": "legacyrest"}, "flow", "must be one of"),
    ],
)
def test_bad_options_are_refused_at_load(
    scheme: str, options: dict[str, Any], bad_key: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        build(scheme, **options)
    assert caught.value.key == f"upstreams.civi.auth.{bad_key}"
    assert fragment in caught.value.reason
    for value in options.values():
        if isinstance(value, Secret):
            assert value.reveal() not in str(caught.value)


@pytest.mark.parametrize(
    ("scheme", "options"),
    [
        ("civicrm-keys", {"site_key": "plain-site-key"}),
        ("authx-apikey", {}),
        ("authx-apikey", {"site_key": SITE_KEY, "flow": "param"}),
        ("authx-basic", {"flow": "header"}),
        ("authx-jwt", {"sign_keys": SIGN_KEYS, "flow": "param", "ttl_seconds": 60, "reuse": False}),
    ],
)
def test_good_options_build_a_signer_whose_repr_hides_secrets(scheme: str, options: dict[str, Any]) -> None:
    signer = build(scheme, **options)
    assert signer.scheme == scheme
    assert "plain-site-key" not in repr(signer)
    assert "site-key-123456" not in repr(signer)
    assert "oracle-sign-secret" not in repr(signer)


def test_civicrm_keys_puts_both_keys_in_the_query_even_on_post() -> None:
    request = outbound(
        "POST", form=[("entity", "Contact"), ("key", "client-copy")], query=[("api_key", "client")]
    )
    build("civicrm-keys", site_key=SITE_KEY).sign(request, API_KEY_IDENTITY, 0.0)
    assert request.query == [("key", "site-key-123456"), ("api_key", "user-api-key")]
    assert request.form == [("entity", "Contact")]
    assert "X-Civi-Auth" not in request.headers


@pytest.mark.parametrize(
    ("flow", "site_key", "headers", "query"),
    [
        ("xheader", None, {"X-Civi-Auth": "Bearer user-api-key"}, []),
        ("xheader", SITE_KEY, {"X-Civi-Auth": "Bearer user-api-key", "X-Civi-Key": "site-key-123456"}, []),
        ("header", None, {"Authorization": "Bearer user-api-key"}, []),
        ("header", SITE_KEY, {"Authorization": "Bearer user-api-key", "X-Civi-Key": "site-key-123456"}, []),
        ("param", None, {}, [("_authx", "Bearer user-api-key")]),
        ("param", SITE_KEY, {}, [("_authx", "Bearer user-api-key"), ("_authxSiteKey", "site-key-123456")]),
    ],
)
def test_authx_apikey_flows_on_get(
    flow: str, site_key: Secret | None, headers: dict[str, str], query: list[tuple[str, str]]
) -> None:
    options: dict[str, Any] = {"flow": flow} | ({"site_key": site_key} if site_key else {})
    request = outbound("GET", query=[("params", "{}"), ("key", "x"), ("api_key", "y")])
    build("authx-apikey", **options).sign(request, API_KEY_IDENTITY, 0.0)
    assert dict(request.headers) == headers
    assert request.query == [("params", "{}"), *query]
    assert request.form is None


@pytest.mark.parametrize(
    ("form", "body", "expected_form"),
    [
        (
            [("params", "{}")],
            None,
            [("params", "{}"), ("_authx", "Bearer user-api-key"), ("_authxSiteKey", "site-key-123456")],
        ),
        (None, None, [("_authx", "Bearer user-api-key"), ("_authxSiteKey", "site-key-123456")]),
        (None, b"", [("_authx", "Bearer user-api-key"), ("_authxSiteKey", "site-key-123456")]),
    ],
    ids=["append-to-form", "no-body", "empty-body"],
)
def test_authx_param_flow_on_post_goes_in_the_form(
    form: list[tuple[str, str]] | None, body: bytes | None, expected_form: list[tuple[str, str]]
) -> None:
    request = outbound("POST", form=form, body=body, query=[("q", "civicrm/ajax/rest")])
    build("authx-apikey", flow="param", site_key=SITE_KEY).sign(request, API_KEY_IDENTITY, 0.0)
    assert request.form == expected_form
    assert request.query == [("q", "civicrm/ajax/rest")]
    if form is None:
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"


@pytest.mark.parametrize(("method", "body"), [("POST", b'{"json": true}'), ("PUT", None), ("DELETE", b"")])
def test_authx_param_flow_refuses_what_authx_could_not_read(method: str, body: bytes | None) -> None:
    request = outbound(method, body=body)
    with pytest.raises(BadRequest):
        build("authx-apikey", flow="param").sign(request, API_KEY_IDENTITY, 0.0)


@pytest.mark.parametrize(
    ("identity", "fragment"),
    [
        ({}, "lacks api_key"),
        ({"api_key": Secret("", "t")}, "empty"),
        ({"api_key": Secret("evil\r\nX-Other: 1", "t")}, "one line"),
    ],
)
def test_bad_identity_is_a_gateway_error_without_the_value(
    identity: dict[str, Secret], fragment: str
) -> None:
    with pytest.raises(GatewayError) as caught:
        build("authx-apikey").sign(outbound(), identity, 0.0)
    assert fragment in caught.value.message
    assert "evil" not in caught.value.message


@pytest.mark.parametrize("flow", ["xheader", "header", "param"])
def test_authx_basic_sends_base64_user_and_password(flow: str) -> None:
    request = outbound("GET")
    identity = {"username": Secret("jane", "t"), "password": Secret("p:a:ss", "t")}
    build("authx-basic", flow=flow, site_key=SITE_KEY).sign(request, identity, 0.0)
    expected = "Basic " + base64.b64encode(b"jane:p:a:ss").decode()
    slots = {
        "xheader": request.headers.get("X-Civi-Auth"),
        "header": request.headers.get("Authorization"),
        "param": dict(request.query).get("_authx"),
    }
    assert slots[flow] == expected
    assert (
        request.headers.get("X-Civi-Key") or dict(request.query).get("_authxSiteKey")
    ) == "site-key-123456"


def test_authx_basic_refuses_a_username_with_a_colon() -> None:
    identity = {"username": Secret("ja:ne", "t"), "password": Secret("pw", "t")}
    with pytest.raises(GatewayError, match="contains ':'"):
        build("authx-basic").sign(outbound(), identity, 0.0)


STRICT = [
    v
    for v in VECTORS["accept"]
    if v["name"] != "secret-with-colons-is-truncated"
    and set(v["claims"]) == {"sub", "scope", "exp"}
    and v["kid"] == v["all_sign_keys"][0]["kid"]
]


@pytest.mark.parametrize("vector", STRICT, ids=[v["name"] for v in STRICT])
@pytest.mark.parametrize("flow", ["xheader", "header", "param"])
def test_authx_jwt_reproduces_each_vector_in_each_flow(vector: dict[str, Any], flow: str) -> None:
    signer = build("authx-jwt", sign_keys=Secret(vector["sign_keys"], "t"), flow=flow, ttl_seconds=300)
    contact_id = vector["claims"]["sub"].removeprefix("cid:")
    request = outbound("GET")
    signer.sign(request, {"contact_id": Secret(contact_id, "t")}, float(vector["claims"]["exp"] - 300) + 0.75)
    credential = {
        "xheader": request.headers.get("X-Civi-Auth"),
        "header": request.headers.get("Authorization"),
        "param": dict(request.query).get("_authx"),
    }[flow]
    assert credential == "Bearer " + vector["jwt"]
    assert "X-Civi-Key" not in request.headers
    assert "_authxSiteKey" not in dict(request.query)


def test_every_strict_vector_shape_is_covered() -> None:
    assert {v["name"] for v in STRICT} >= {
        "hkdf-basic",
        "b64-32-bytes",
        "hs512-suite",
        "two-keys-signs-with-first",
        "empty-kdf-defaults-to-hkdf",
        "hkdf-installer-shape",
        "b64-16-bytes",
    }


def test_authx_jwt_reuses_a_token_until_thirty_seconds_before_expiry() -> None:
    signer = build("authx-jwt", sign_keys=SIGN_KEYS, ttl_seconds=120)
    first = signer.token_for("7", 1000.0)
    assert signer.token_for("7", 1089.0) == first
    renewed = signer.token_for("7", 1090.0)
    assert renewed != first
    keys = parse_sign_keys(SIGN_KEYS.reveal())
    assert decode_jwt(renewed, keys, 1100)["exp"] == 1210
    assert signer.token_for("8", 1090.0) != renewed


def test_authx_jwt_without_reuse_mints_every_time() -> None:
    signer = build("authx-jwt", sign_keys=SIGN_KEYS, reuse=False)
    assert signer.token_for("7", 1000.0) != signer.token_for("7", 1001.0)


def test_authx_jwt_claims_are_exactly_sub_scope_exp() -> None:
    signer = build("authx-jwt", sign_keys=SIGN_KEYS, ttl_seconds=60)
    request = outbound("POST")
    signer.sign(request, {"contact_id": Secret("42", "t")}, 5000.9)
    token = request.headers["X-Civi-Auth"].removeprefix("Bearer ")
    payload = token.split(".")[1]
    assert base64.urlsafe_b64decode(payload + "==") == b'{"sub":"cid:42","scope":"authx","exp":5060}'
    assert signer.kid == VECTORS["accept"][0]["kid"]


@pytest.mark.parametrize("contact_id", ["0", "-1", "02", "4 2", "abc", "1.5", ""])
def test_authx_jwt_refuses_a_contact_id_that_is_not_a_positive_integer(contact_id: str) -> None:
    signer = build("authx-jwt", sign_keys=SIGN_KEYS)
    with pytest.raises(GatewayError):
        signer.sign(outbound(), {"contact_id": Secret(contact_id, "t")}, 0.0)


def test_modules_expose_their_signer_classes() -> None:
    assert civicrm_keys.CiviKeysSigner.scheme == "civicrm-keys"
    assert {
        civicrm_authx.AuthxApiKeySigner.scheme,
        civicrm_authx.AuthxJwtSigner.scheme,
        civicrm_authx.AuthxBasicSigner.scheme,
    } == {"authx-apikey", "authx-jwt", "authx-basic"}
