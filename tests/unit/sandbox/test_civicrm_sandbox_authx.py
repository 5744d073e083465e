"""The sandbox CiviCRM's CRM_Core_Invoke routes (AuthX flows, JWTs, legacyrest) accept exactly the
credentials a real site accepts, and refuse the rest."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.sandbox.civicrm import build_civicrm_app
from gateway.sandbox.civicrm_config import SandboxContact
from tests.support.civi_site import (
    GOOD_JWT,
    SITE_KEY,
    V3,
    V4,
    VECTORS,
    XHR,
    site,
    who,
)

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]


@pytest.fixture
async def civi(aiohttp_client: MakeClient) -> Client:
    return await aiohttp_client(build_civicrm_app(site()))


# ---- AuthX flows -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "headers", "query", "form", "cid", "flow"),
    [
        ("GET", {"X-Civi-Auth": "Bearer apikey-two", "X-Civi-Key": SITE_KEY}, {}, None, "2", "xheader"),
        ("GET", {"X-Civi-Auth": "Bearer APIKEY-TWO", "X-Civi-Key": SITE_KEY}, {}, None, "2", "xheader"),
        ("GET", {"X-Civi-Auth": "Bearer apikey-four"}, {}, None, "4", "xheader"),
        ("POST", {"X-Civi-Auth": "Bearer apikey-two"}, {"_authxSiteKey": SITE_KEY}, {}, None, None),
        ("POST", {"X-Civi-Auth": "Bearer apikey-two"}, {}, {"_authxSiteKey": SITE_KEY}, "2", "xheader"),
        (
            "GET",
            {"Authorization": "Bearer apikey-two", "X-Civi-Key": SITE_KEY, **XHR},
            {},
            None,
            "2",
            "header",
        ),
        ("GET", {}, {"_authx": "Bearer apikey-two", "_authxSiteKey": SITE_KEY}, None, "2", "param"),
        ("POST", {}, {}, {"_authx": "Bearer apikey-two", "_authxSiteKey": SITE_KEY}, "2", "param"),
        ("POST", {}, {"_authx": "Bearer apikey-two", "_authxSiteKey": SITE_KEY}, {}, None, None),
        ("GET", {"X-Civi-Auth": f"Bearer {GOOD_JWT}"}, {}, None, "2", "xheader"),
        ("GET", {"Authorization": f"Bearer {GOOD_JWT}", **XHR}, {}, None, "2", "header"),
        ("GET", {}, {"_authx": f"Bearer {GOOD_JWT}"}, None, "2", "param"),
        ("POST", {}, {}, {"_authx": f"Bearer {GOOD_JWT}"}, "2", "param"),
    ],
    ids=[
        "xheader-sitekey",
        "xheader-key-case",
        "xheader-perm-guard",
        "post-reads-no-get-sitekey",
        "xheader-sitekey-in-post",
        "header",
        "param-get",
        "param-post",
        "param-post-in-query-ignored",
        "jwt-xheader",
        "jwt-header",
        "jwt-param-get",
        "jwt-param-post",
    ],
)
async def test_authx_flows_accept_the_right_credential(
    civi: Client,
    method: str,
    headers: dict[str, str],
    query: dict[str, str],
    form: dict[str, str] | None,
    cid: str | None,
    flow: str | None,
) -> None:
    response = await civi.request(method, V4, params=query, data=form, headers=headers)
    status, seen_cid, seen_flow, _ = await who(response)
    if cid is None:
        assert status in (401, 403)
    else:
        assert (status, seen_cid, seen_flow) == (200, cid, flow)


@pytest.mark.parametrize(
    ("headers", "query", "message"),
    [
        (
            {"X-Civi-Auth": "Bearer apikey-two"},
            {},
            "Login not permitted. Must satisfy guard (site_key, perm).",
        ),
        (
            {"X-Civi-Auth": "Bearer apikey-two", "X-Civi-Key": "wrong-key"},
            {},
            "Login not permitted. Must satisfy guard (site_key, perm).",
        ),
        ({"X-Civi-Auth": "apikey-two", "X-Civi-Key": SITE_KEY}, {}, "Invalid credential"),
        ({"X-Civi-Auth": "bearer apikey-two", "X-Civi-Key": SITE_KEY}, {}, "Invalid credential"),
        ({"X-Civi-Auth": "Bearer not-a-key"}, {}, "Invalid credential"),
        ({"X-Civi-Auth": "Bearer nope", "Authorization": "Bearer apikey-four"}, {}, "Invalid credential"),
        ({"X-Civi-Auth": "Bearer nope"}, {"_authx": "Bearer apikey-four"}, "Invalid credential"),
        ({"Authorization": "Bearer nope", **XHR}, {"_authx": "Bearer apikey-four"}, "Invalid credential"),
        (
            {"X-Civi-Auth": "Basic " + "YWxpY2U6YWxpY2UtcHc=", "X-Civi-Key": SITE_KEY},
            {},
            'Authentication type "pass" with flow "xheader" is not allowed for this principal.',
        ),
        ({"X-Civi-Auth": "Basic " + "YWxpY2U6d3Jvbmc=", "X-Civi-Key": SITE_KEY}, {}, "Invalid credential"),
        ({}, {"_authx": "Bearer apikey-three", "_authxSiteKey": SITE_KEY}, None),
    ],
    ids=[
        "no-guard",
        "wrong-site-key",
        "bare-value",
        "lowercase-scheme",
        "unknown-key",
        "xheader-final",
        "xheader-before-param",
        "header-final",
        "password-not-allowed",
        "bad-password",
        "no-cms-user-is-fine",
    ],
)
async def test_authx_refusals_are_401_text(
    civi: Client, headers: dict[str, str], query: dict[str, str], message: str | None
) -> None:
    response = await civi.get(V4, params=query, headers=headers)
    status, cid, _, text = await who(response)
    if message is None:  # authx_param_user is 'optional': a contact without CMS user may log in
        assert (status, cid) == (200, "3")
        return
    assert (status, cid, text) == (401, None, f"HTTP 401 {message}")
    assert response.headers["Content-Type"].startswith("text/plain")


async def test_basic_in_authorization_is_ignored_and_param_flow_runs(civi: Client) -> None:
    headers = {"Authorization": "Basic YWxpY2U6YWxpY2UtcHc="}
    response = await civi.get(V4, params={"_authx": "Bearer apikey-four"}, headers=headers)
    assert (await who(response))[:3] == (200, "4", "param")
    anonymous = await civi.get(V4, headers=headers)
    assert anonymous.status == 403


async def test_password_credential_when_the_site_allows_it(aiohttp_client: MakeClient) -> None:
    creds = {"xheader": ("jwt", "api_key", "pass"), "header": ("jwt", "api_key", "pass")}
    client = await aiohttp_client(build_civicrm_app(site(authx_flow_creds=creds)))
    basic = "Basic YWxpY2U6YWxpY2UtcHc="  # alice:alice-pw
    ok = await client.get(V4, headers={"Authorization": basic, "X-Civi-Key": SITE_KEY, **XHR})
    assert (await who(ok))[:3] == (200, "2", "header")
    assert ok.headers["X-Sandbox-Cred-Type"] == "pass"
    guarded = await client.get(V4, headers={"X-Civi-Auth": basic})
    assert await guarded.text() == "HTTP 401 Login not permitted. Must satisfy guard (site_key, perm)."


async def test_authorization_header_is_skipped_when_the_header_flow_has_no_creds(
    aiohttp_client: MakeClient,
) -> None:
    creds = {"xheader": ("jwt", "api_key"), "header": (), "param": ("jwt", "api_key")}
    client = await aiohttp_client(build_civicrm_app(site(authx_flow_creds=creds)))
    response = await client.get(
        V4, headers={"Authorization": "Bearer not-a-key"}, params={"_authx": f"Bearer {GOOD_JWT}"}
    )
    assert (await who(response))[:3] == (200, "2", "param")


@pytest.mark.parametrize(
    ("creds", "headers", "message"),
    [
        (
            {"xheader": ("api_key",)},
            {"X-Civi-Auth": f"Bearer {GOOD_JWT}"},
            'Authentication type "jwt" with flow "xheader" is not allowed for this principal.',
        ),
        (
            {"xheader": ("jwt",)},
            {"X-Civi-Auth": "Bearer apikey-two", "X-Civi-Key": SITE_KEY},
            'Authentication type "api_key" with flow "xheader" is not allowed for this principal.',
        ),
    ],
)
async def test_flow_credential_types_are_enforced(
    aiohttp_client: MakeClient, creds: dict[str, tuple[str, ...]], headers: dict[str, str], message: str
) -> None:
    client = await aiohttp_client(build_civicrm_app(site(authx_flow_creds=creds)))
    assert await (await client.get(V4, headers=headers)).text() == f"HTTP 401 {message}"


async def test_no_guards_let_any_api_key_in(aiohttp_client: MakeClient) -> None:
    client = await aiohttp_client(build_civicrm_app(site(authx_guards=())))
    response = await client.get(V4, headers={"X-Civi-Auth": "Bearer apikey-two"})
    assert (await who(response))[:2] == (200, "2")


# ---- JWT vectors -------------------------------------------------------------------------------


ACCEPT = VECTORS["accept"]


@pytest.mark.parametrize("vector", ACCEPT, ids=[v["name"] for v in ACCEPT])
async def test_sandbox_accepts_every_accept_vector(
    aiohttp_client: MakeClient, vector: dict[str, Any]
) -> None:
    client = await aiohttp_client(build_civicrm_app(site(sign_keys=vector["sign_keys"])))
    response = await client.get(V4, headers={"X-Civi-Auth": f"Bearer {vector['jwt']}"})
    status, cid, flow, _ = await who(response)
    assert (status, cid, flow) == (200, vector["claims"]["sub"][4:], "xheader")
    assert response.headers["X-Sandbox-Cred-Type"] == "jwt"


@pytest.mark.parametrize("vector", VECTORS["reject"], ids=[v["name"] for v in VECTORS["reject"]])
@pytest.mark.parametrize("slot", ["xheader", "header", "param"])
async def test_sandbox_refuses_every_reject_vector(
    aiohttp_client: MakeClient, vector: dict[str, Any], slot: str
) -> None:
    client = await aiohttp_client(build_civicrm_app(site(sign_keys=vector["verifier_sign_keys"])))
    credential = f"Bearer {vector['jwt']}"
    if slot == "param":
        response = await client.get(V4, params={"_authx": credential})
    else:
        response = await client.get(
            V4, headers={"X-Civi-Auth" if slot == "xheader" else "Authorization": credential}
        )
    expected = "Expired token" if vector["name"] == "expired" else "Invalid credential"
    assert (response.status, await response.text()) == (401, f"HTTP 401 {expected}")
    assert "X-Sandbox-Contact-Id" not in response.headers


@pytest.mark.parametrize(
    ("name", "status", "text"),
    [
        ("scope-without-authx", 401, "HTTP 401 Invalid credential"),
        ("no-scope", 401, "HTTP 401 Invalid credential"),
        ("sub-not-cid", 401, "HTTP 401 Malformed JWT. Must specify the contact ID."),
        ("no-exp", 200, None),
    ],
)
async def test_authx_claim_rules(civi: Client, name: str, status: int, text: str | None) -> None:
    vector = next(v for v in VECTORS["authx_semantics"] if v["name"] == name)
    response = await civi.get(V4, headers={"X-Civi-Auth": f"Bearer {vector['jwt']}"})
    assert response.status == status
    if text is not None:
        assert await response.text() == text


async def test_sandbox_clock_decides_expiry(aiohttp_client: MakeClient) -> None:
    vector = ACCEPT[0]
    clock = {"now": vector["claims"]["exp"] - 1.0}
    client = await aiohttp_client(build_civicrm_app(site(clock=lambda: clock["now"])))
    headers = {"X-Civi-Auth": f"Bearer {vector['jwt']}"}
    assert (await client.get(V4, headers=headers)).status == 200
    clock["now"] += 1
    assert await (await client.get(V4, headers=headers)).text() == "HTTP 401 Expired token"


@pytest.mark.parametrize(
    ("token", "status", "text"),
    [
        ("eyJhbGciOiJIUzI1NiJ9.e30", 401, "HTTP 401 Invalid credential"),
        ("x.y.z", 500, None),
    ],
)
async def test_malformed_bearer_values(civi: Client, token: str, status: int, text: str | None) -> None:
    response = await civi.get(V4, headers={"X-Civi-Auth": f"Bearer {token}"})
    assert response.status == status
    if text:
        assert await response.text() == text


async def test_jwt_for_an_unknown_contact_is_refused(aiohttp_client: MakeClient) -> None:
    vector = ACCEPT[0]
    only_other = [SandboxContact(9, None, "Someone")]
    client = await aiohttp_client(build_civicrm_app(site(contacts=only_other)))
    response = await client.get(V4, headers={"X-Civi-Auth": f"Bearer {vector['jwt']}"})
    assert await response.text() == "HTTP 401 Contact ID 2 is invalid"


def test_build_refuses_sign_keys_a_real_site_cannot_load() -> None:
    with pytest.raises(ValueError, match="unrecognized kdf"):
        build_civicrm_app(site(sign_keys="jwt-hs256:rot13:abc"))


# ---- legacyrest, never-mix and X-Requested-With ---------------------------------------------------


@pytest.mark.parametrize(
    ("params", "cid", "message"),
    [
        ({"key": SITE_KEY, "api_key": "apikey-two"}, "2", None),
        ({"key": SITE_KEY, "api_key": "ApiKey-Two"}, "2", None),
        ({"api_key": "apikey-four"}, "4", None),
        ({"api_key": "apikey-two"}, None, "Login not permitted. Must satisfy guard (site_key, perm)."),
        (
            {"key": "bad-site-key", "api_key": "apikey-two"},
            None,
            "Login not permitted. Must satisfy guard (site_key, perm).",
        ),
        ({"key": SITE_KEY, "api_key": "apikey-three"}, None, "Cannot login. No matching user is available."),
        ({"key": SITE_KEY, "api_key": "wrong"}, None, "Invalid credential"),
        ({"key": SITE_KEY}, None, "Invalid credential"),
    ],
    ids=[
        "key-and-api-key",
        "case-insensitive",
        "perm-without-key",
        "no-key-no-perm",
        "wrong-key",
        "no-cms-user",
        "unknown-api-key",
        "key-only",
    ],
)
@pytest.mark.parametrize("path", ["/civicrm/ajax/rest?entity=Contact&action=get&json=1", V4])
async def test_legacyrest_on_ajax_routes(
    civi: Client, params: dict[str, str], cid: str | None, message: str | None, path: str
) -> None:
    response = await civi.get(path, params=params)
    status, seen, flow, text = await who(response)
    if message is None:
        assert (status, seen, flow) == (200, cid, "legacyrest")
    else:
        assert (status, seen) == (200, None)
        assert json.loads(text) == {"error_message": f"FATAL: {message}", "is_error": 1}


async def test_never_mix_authx_with_another_contacts_key(civi: Client) -> None:
    headers = {"X-Civi-Auth": "Bearer apikey-two", "X-Civi-Key": SITE_KEY}
    response = await civi.get(V3, params={"key": SITE_KEY, "api_key": "apikey-four"}, headers=headers)
    body = json.loads(await response.text())
    assert body == {
        "error_message": "FATAL: Cannot login. A mismatched session is already active.",
        "is_error": 1,
    }
    jwt_mix = await civi.get(
        V4, params={"api_key": "apikey-four"}, headers={"X-Civi-Auth": f"Bearer {GOOD_JWT}"}
    )
    assert "mismatched session" in await jwt_mix.text()


async def test_same_contact_twice_is_already_logged_in_and_loses_the_csrf_pass(civi: Client) -> None:
    headers = {"X-Civi-Auth": "Bearer apikey-two", "X-Civi-Key": SITE_KEY}
    response = await civi.get(V3, params={"key": SITE_KEY, "api_key": "apikey-two"}, headers=headers)
    assert "SECURITY ALERT" in json.loads(await response.text())["error_message"]
    with_xhr = await civi.get(
        V3, params={"key": SITE_KEY, "api_key": "apikey-two"}, headers={**headers, **XHR}
    )
    assert (await who(with_xhr))[:3] == (200, "2", "already-logged-in")


@pytest.mark.parametrize(
    ("headers", "query", "allowed"),
    [
        ({"Authorization": "Bearer apikey-two", "X-Civi-Key": SITE_KEY}, {}, False),
        ({"Authorization": "Bearer apikey-two", "X-Civi-Key": SITE_KEY, **XHR}, {}, True),
        (
            {
                "Authorization": "Bearer apikey-two",
                "X-Civi-Key": SITE_KEY,
                "X-Requested-With": "xmlhttprequest",
            },
            {},
            False,
        ),
        ({"X-Civi-Auth": "Bearer apikey-two", "X-Civi-Key": SITE_KEY}, {}, True),
        ({}, {"_authx": "Bearer apikey-two", "_authxSiteKey": SITE_KEY}, True),
        ({}, {"key": SITE_KEY, "api_key": "apikey-two"}, True),
    ],
    ids=["header-no-xhr", "header-xhr", "xhr-wrong-case", "xheader", "param", "legacyrest"],
)
async def test_requested_with_rule(
    civi: Client, headers: dict[str, str], query: dict[str, str], allowed: bool
) -> None:
    v3 = await civi.get(V3, params=query, headers=headers)
    v3_body = json.loads(await v3.text())
    v4 = await civi.get(V4, params=query, headers=headers)
    if allowed:
        assert (v3.status, v3_body["is_error"], v4.status) == (200, 0, 200)
    else:
        assert (v3.status, v3_body["is_error"]) == (200, 1)
        assert v3_body["error_message"].startswith(
            "SECURITY ALERT: Ajax requests can only be issued by javascript"
        )
        assert v4.status == 400
        assert json.loads(await v4.text())["error_code"] == 400


async def test_unauthenticated_calls_fail(civi: Client) -> None:
    v4 = await civi.get(V4, headers=XHR)
    assert v4.status == 403 and json.loads(await v4.text())["error_code"] == 403
    v3 = await civi.get(V3, headers=XHR)
    assert v3.status == 403 and json.loads(await v3.text())["is_error"] == 1
    batch = await civi.post("/civicrm/ajax/api4", data={"calls": "{}"}, headers=XHR)
    assert batch.status == 403


async def test_v4_get_only_over_get(civi: Client) -> None:
    headers = {"X-Civi-Auth": "Bearer apikey-two", "X-Civi-Key": SITE_KEY}
    response = await civi.get("/civicrm/ajax/api4/Contact/create", headers=headers)
    assert response.status == 405
    assert json.loads(await response.text())["error_message"].startswith("SECURITY: All requests that modify")
