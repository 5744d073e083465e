"""Signer to sandbox, end to end: every CiviCRM scheme and flow produces a credential the site accepts."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict

from gateway.sandbox.civicrm import CiviSandboxConfig, SandboxContact, build_civicrm_app
from gateway.secrets import Secret
from gateway.signers import civicrm_authx, civicrm_keys
from gateway.signers.base import OutboundRequest, Signer
from gateway.signers.registry import spec_for

# importing the signer modules registers their schemes
SCHEMES = (civicrm_keys.CiviKeysSigner.scheme, civicrm_authx.AuthxJwtSigner.scheme)
Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]

NOW = 1_750_000_000.0
SITE_KEY = "e2e-site-key-0001"
SIGN_KEYS = "jwt-hs256:hkdf-sha256:e2e-new-secret jwt-hs384:b64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
PERM = frozenset({"authenticate with api key", "authenticate with password"})
CONTACTS = [
    SandboxContact(2, "Key-Two-abcdef", "Alice Two", username="alice", password="alice-pw"),
    SandboxContact(3, "key-three-nouser", "Bob NoUser", has_cms_user=False),
    SandboxContact(4, "key-four-perm", "Carol Perm", permissions=PERM, username="carol", password="c:pw"),
]
ALL_PASS = {flow: ("jwt", "api_key", "pass") for flow in ("xheader", "header", "param", "legacyrest")}
V4 = ("/civicrm/ajax/api4/Contact/get", [("params", '{"select":["id"],"limit":1}')])
V3_AJAX = ("/civicrm/ajax/rest", [("entity", "Contact"), ("action", "get"), ("json", "1")])
REST_PHP = ("/civicrm/extern/rest.php", [("entity", "Contact"), ("action", "get"), ("json", "1")])
WP_REST = ("/wp-json/civicrm/v3/rest", [("entity", "Contact"), ("action", "get"), ("json", "1")])


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def signer(scheme: str, **options: Any) -> Signer:
    spec = spec_for(scheme)
    assert spec is not None
    return spec.factory(options, "upstreams.civi.auth")


def site(clock: Clock, **overrides: Any) -> CiviSandboxConfig:
    settings: dict[str, Any] = {
        "site_key": SITE_KEY,
        "sign_keys": SIGN_KEYS,
        "contacts": CONTACTS,
        "clock": clock,
    }
    settings.update(overrides)
    return CiviSandboxConfig(**settings)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def civi(aiohttp_client: MakeClient, clock: Clock) -> Client:
    return await aiohttp_client(build_civicrm_app(site(clock)))


def outbound(method: str, endpoint: tuple[str, list[tuple[str, str]]]) -> OutboundRequest:
    path, params = endpoint
    headers = CIMultiDict({"X-Requested-With": "XMLHttpRequest"})  # the gateway always injects it
    if method == "GET":
        return OutboundRequest("GET", path, list(params), headers)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return OutboundRequest("POST", path, [], headers, form=list(params))


async def send(client: Client, request: OutboundRequest) -> ClientResponse:
    url = client.make_url(request.path).with_query(request.query)
    body = urlencode(request.form).encode() if request.form is not None else request.body
    return await client.session.request(request.method, url, headers=request.headers, data=body)


async def signed(
    client: Client,
    the_signer: Signer,
    identity: dict[str, str],
    method: str,
    endpoint: tuple[str, list[tuple[str, str]]],
    now: float = NOW,
) -> ClientResponse:
    request = outbound(method, endpoint)
    the_signer.sign(request, {k: Secret(v, "test") for k, v in identity.items()}, now)
    return await send(client, request)


def seen(response: ClientResponse) -> tuple[int, str | None, str | None, str | None]:
    headers = response.headers
    return (
        response.status,
        headers.get("X-Sandbox-Contact-Id"),
        headers.get("X-Sandbox-Auth-Flow"),
        headers.get("X-Sandbox-Cred-Type"),
    )


@pytest.mark.parametrize(
    ("method", "endpoint", "flow"),
    [
        ("GET", REST_PHP, "rest.php"),
        ("POST", REST_PHP, "rest.php"),
        ("GET", WP_REST, "wp-rest"),
        ("POST", WP_REST, "wp-rest"),
        ("GET", V3_AJAX, "legacyrest"),
        ("POST", V3_AJAX, "legacyrest"),
        ("GET", V4, "legacyrest"),
        ("POST", V4, "legacyrest"),
    ],
)
async def test_civicrm_keys(
    civi: Client, method: str, endpoint: tuple[str, list[tuple[str, str]]], flow: str
) -> None:
    response = await signed(
        civi,
        signer("civicrm-keys", site_key=Secret(SITE_KEY, "t")),
        {"api_key": "key-two-ABCDEF"},
        method,
        endpoint,
    )
    assert seen(response) == (200, "2", flow, "api_key")
    body = json.loads(await response.text())
    assert body.get("is_error", 0) == 0


async def test_civicrm_keys_for_a_contact_without_cms_user_is_refused(civi: Client) -> None:
    keys = signer("civicrm-keys", site_key=Secret(SITE_KEY, "t"))
    response = await signed(civi, keys, {"api_key": "key-three-nouser"}, "GET", REST_PHP)
    assert (
        json.loads(await response.text())["error_message"]
        == "ERROR: No CMS user associated with given api-key"
    )


async def test_civicrm_keys_with_the_wrong_site_key_is_refused(civi: Client) -> None:
    keys = signer("civicrm-keys", site_key=Secret("another-site-key", "t"))
    response = await signed(civi, keys, {"api_key": "key-two-abcdef"}, "GET", REST_PHP)
    assert json.loads(await response.text())["error_message"] == "Failed to authenticate key"


@pytest.mark.parametrize("flow", ["xheader", "header", "param"])
@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("endpoint", [V4, V3_AJAX], ids=["v4", "v3-ajax"])
async def test_authx_apikey(
    civi: Client, flow: str, method: str, endpoint: tuple[str, list[tuple[str, str]]]
) -> None:
    with_key = signer("authx-apikey", flow=flow, site_key=Secret(SITE_KEY, "t"))
    assert seen(await signed(civi, with_key, {"api_key": "key-two-abcdef"}, method, endpoint)) == (
        200,
        "2",
        flow,
        "api_key",
    )
    without_key = signer("authx-apikey", flow=flow)
    assert seen(await signed(civi, without_key, {"api_key": "key-four-perm"}, method, endpoint))[:2] == (
        200,
        "4",
    )
    refused = await signed(civi, without_key, {"api_key": "key-two-abcdef"}, method, endpoint)
    assert (refused.status, await refused.text()) == (
        401,
        "HTTP 401 Login not permitted. Must satisfy guard (site_key, perm).",
    )


@pytest.mark.parametrize("flow", ["xheader", "header", "param"])
@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("endpoint", [V4, V3_AJAX], ids=["v4", "v3-ajax"])
async def test_authx_jwt(
    civi: Client, flow: str, method: str, endpoint: tuple[str, list[tuple[str, str]]]
) -> None:
    jwt_signer = signer("authx-jwt", sign_keys=Secret(SIGN_KEYS, "t"), flow=flow)
    for contact_id in ("2", "3", "4"):
        response = await signed(civi, jwt_signer, {"contact_id": contact_id}, method, endpoint)
        assert seen(response) == (200, contact_id, flow, "jwt")


async def test_authx_jwt_expiry_and_reuse_follow_the_clocks(civi: Client, clock: Clock) -> None:
    jwt_signer = signer("authx-jwt", sign_keys=Secret(SIGN_KEYS, "t"), ttl_seconds=60)
    assert (await signed(civi, jwt_signer, {"contact_id": "2"}, "GET", V4, now=NOW)).status == 200
    clock.now = NOW + 60
    stale = await signed(civi, jwt_signer, {"contact_id": "2"}, "GET", V4, now=NOW + 29)
    assert (stale.status, await stale.text()) == (401, "HTTP 401 Expired token")
    fresh = await signed(civi, jwt_signer, {"contact_id": "2"}, "GET", V4, now=NOW + 30)
    assert seen(fresh) == (200, "2", "xheader", "jwt")


async def test_authx_jwt_after_key_rotation(aiohttp_client: MakeClient, clock: Clock) -> None:
    rotated = "jwt-hs256:hkdf-sha256:brand-new " + SIGN_KEYS
    old_site = await aiohttp_client(build_civicrm_app(site(clock)))
    new_site = await aiohttp_client(build_civicrm_app(site(clock, sign_keys=rotated)))
    jwt_signer = signer("authx-jwt", sign_keys=Secret(rotated, "t"))
    assert (await signed(new_site, jwt_signer, {"contact_id": "2"}, "GET", V4)).status == 200
    refused = await signed(old_site, jwt_signer, {"contact_id": "2"}, "GET", V4)
    assert (refused.status, await refused.text()) == (401, "HTTP 401 Invalid credential")


async def test_authx_jwt_for_an_unknown_contact(civi: Client) -> None:
    jwt_signer = signer("authx-jwt", sign_keys=Secret(SIGN_KEYS, "t"))
    response = await signed(civi, jwt_signer, {"contact_id": "77"}, "GET", V4)
    assert await response.text() == "HTTP 401 Contact ID 77 is invalid"


@pytest.mark.parametrize("flow", ["xheader", "header", "param"])
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_authx_basic_where_the_site_allows_passwords(
    aiohttp_client: MakeClient, clock: Clock, flow: str, method: str
) -> None:
    client = await aiohttp_client(build_civicrm_app(site(clock, authx_flow_creds=ALL_PASS)))
    with_key = signer("authx-basic", flow=flow, site_key=Secret(SITE_KEY, "t"))
    alice = {"username": "alice", "password": "alice-pw"}
    assert seen(await signed(client, with_key, alice, method, V4)) == (200, "2", flow, "pass")
    carol = {"username": "carol", "password": "c:pw"}
    assert seen(await signed(client, signer("authx-basic", flow=flow), carol, method, V4))[:2] == (200, "4")
    wrong = await signed(client, with_key, {"username": "alice", "password": "nope"}, method, V4)
    assert (wrong.status, await wrong.text()) == (401, "HTTP 401 Invalid credential")


@pytest.mark.parametrize(
    ("flow", "status", "text"),
    [
        (
            "xheader",
            401,
            'HTTP 401 Authentication type "pass" with flow "xheader" is not allowed for this principal.',
        ),
        ("header", 403, None),
        (
            "param",
            401,
            'HTTP 401 Authentication type "pass" with flow "param" is not allowed for this principal.',
        ),
    ],
)
async def test_authx_basic_on_a_default_site(civi: Client, flow: str, status: int, text: str | None) -> None:
    basic = signer("authx-basic", flow=flow, site_key=Secret(SITE_KEY, "t"))
    response = await signed(civi, basic, {"username": "alice", "password": "alice-pw"}, "GET", V4)
    assert response.status == status
    if text is not None:
        assert await response.text() == text
