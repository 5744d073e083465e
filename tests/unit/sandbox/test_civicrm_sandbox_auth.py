"""The sandbox CiviCRM's rest.php and WordPress REST endpoints accept exactly the credentials a real
site accepts, and refuse the rest; every request is recorded."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.sandbox.civicrm import CIVI_CONFIG, CIVI_RECEIVED, build_civicrm_app
from tests.support.civi_site import (
    GOOD_JWT,
    REST_PHP,
    SITE_KEY,
    V4,
    WP,
    site,
    who,
)

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]


@pytest.fixture
async def civi(aiohttp_client: MakeClient) -> Client:
    return await aiohttp_client(build_civicrm_app(site()))


# ---- extern/rest.php -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "query", "form"),
    [
        ("GET", {"key": SITE_KEY, "api_key": "apikey-two"}, None),
        ("GET", {"key": SITE_KEY, "api_key": "APIKEY-TWO"}, None),
        ("GET", {"key": f"  {SITE_KEY}\n", "api_key": "apikey-two"}, None),
        ("POST", {}, {"key": SITE_KEY, "api_key": "apikey-two"}),
        ("POST", {"key": SITE_KEY, "api_key": "apikey-two"}, {}),
        ("POST", {"key": "wrong-key-0000", "api_key": "apikey-two"}, {"key": SITE_KEY}),
    ],
    ids=[
        "get",
        "api-key-case-insensitive",
        "site-key-trimmed",
        "post-form",
        "post-query",
        "post-overrides-get",
    ],
)
async def test_rest_php_accepts_site_key_and_api_key(
    civi: Client, method: str, query: dict[str, str], form: dict[str, str] | None
) -> None:
    params = {"entity": "Contact", "action": "get", "json": "1", **query}
    response = await civi.request(method, REST_PHP, params=params, data=form)
    status, cid, flow, text = await who(response)
    assert (status, cid, flow) == (200, "2", "rest.php")
    assert json.loads(text)["is_error"] == 0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"api_key": "apikey-two"}, "Failed to authenticate key"),
        ({"key": "wrong-key-000", "api_key": "apikey-two"}, "Failed to authenticate key"),
        ({"key": SITE_KEY.upper(), "api_key": "apikey-two"}, "Failed to authenticate key"),
        ({"key": SITE_KEY}, "FATAL: mandatory param 'api_key' (user key) missing"),
        ({"key": SITE_KEY, "api_key": ""}, "FATAL: mandatory param 'api_key' (user key) missing"),
        ({"key": SITE_KEY, "api_key": "no-such-key"}, "ERROR: No CMS user associated with given api-key"),
        ({"key": SITE_KEY, "api_key": "apikey-three"}, "ERROR: No CMS user associated with given api-key"),
        ({"key": SITE_KEY, "api_key": "apikey-two", "q": "civicrm/Contact"}, "ERROR: Malformed REST path"),
    ],
    ids=[
        "no-key",
        "wrong-key",
        "key-case",
        "no-api-key",
        "empty-api-key",
        "unknown-api-key",
        "no-cms-user",
        "bad-q",
    ],
)
async def test_rest_php_refusals_are_http_200_is_error(
    civi: Client, params: dict[str, str], message: str
) -> None:
    response = await civi.get(REST_PHP, params={"entity": "Contact", "action": "get", "json": "1", **params})
    status, cid, _, text = await who(response)
    assert (status, cid) == (200, None)
    assert json.loads(text) == {"error_message": message, "is_error": 1}


async def test_rest_php_ignores_authx_headers(civi: Client) -> None:
    headers = {
        "X-Civi-Auth": "Bearer apikey-two",
        "X-Civi-Key": SITE_KEY,
        "Authorization": f"Bearer {GOOD_JWT}",
    }
    response = await civi.get(
        REST_PHP, params={"entity": "Contact", "action": "get", "json": "1"}, headers=headers
    )
    assert json.loads(await response.text())["error_message"] == "Failed to authenticate key"


async def test_rest_php_answers_xml_without_json(civi: Client) -> None:
    response = await civi.get(REST_PHP, params={"entity": "Contact", "action": "get"})
    text = await response.text()
    assert response.status == 200
    assert text.startswith('<?xml version="1.0"?>')
    assert "<error_message>Failed to authenticate key</error_message>" in text


async def test_rest_php_ping_needs_no_credential(civi: Client) -> None:
    response = await civi.get(REST_PHP, params={"q": "civicrm/ping", "json": "1"})
    assert json.loads(await response.text()) == {"is_error": 0, "message": "PONG: "}


@pytest.mark.parametrize("site_key", ["short7!", ""])
async def test_a_site_key_under_8_chars_disables_key_auth(aiohttp_client: MakeClient, site_key: str) -> None:
    client = await aiohttp_client(build_civicrm_app(site(site_key=site_key)))
    response = await client.get(
        REST_PHP,
        params={"key": site_key, "api_key": "apikey-two", "entity": "Contact", "action": "get", "json": "1"},
    )
    assert json.loads(await response.text())["error_message"] == "Failed to authenticate key"


# ---- WordPress REST --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "json_body", "status", "code", "message"),
    [
        ({"key": SITE_KEY, "api_key": "apikey-two"}, None, 200, None, None),
        ({"key": SITE_KEY}, {"api_key": "apikey-two"}, 200, None, None),
        ({"key": SITE_KEY}, None, 500, "civicrm_rest_api_error", 'Missing or invalid param "api_key".'),
        (
            {"key": SITE_KEY, "api_key": "nope"},
            None,
            500,
            "civicrm_rest_api_error",
            'Missing or invalid param "api_key".',
        ),
        (
            {"key": SITE_KEY, "api_key": "apikey-three"},
            None,
            500,
            "civicrm_rest_api_error",
            "A WordPress user must be associated with the contact for the provided API key.",
        ),
        (
            {"key": "wrong-key-00", "api_key": "apikey-two"},
            None,
            400,
            "rest_invalid_param",
            "Invalid parameter(s): key",
        ),
        ({"api_key": "apikey-two"}, None, 403, "civicrm_rest_api_error", "Param key is not valid."),
        (
            {"api_key": "apikey-two"},
            {"key": SITE_KEY},
            400,
            "rest_invalid_param",
            "Invalid parameter(s): key",
        ),
    ],
    ids=[
        "query",
        "api-key-in-json",
        "no-api-key",
        "bad-api-key",
        "no-wp-user",
        "wrong-key",
        "no-key",
        "key-only-in-json",
    ],
)
async def test_wp_rest_credential_checks(
    civi: Client,
    query: dict[str, str],
    json_body: dict[str, str] | None,
    status: int,
    code: str | None,
    message: str | None,
) -> None:
    params = {"entity": "Contact", "action": "get", "json": "1", **query}
    response = (
        await civi.post(WP, params=params, json=json_body) if json_body else await civi.get(WP, params=params)
    )
    body = json.loads(await response.text())
    assert response.status == status
    if code is None:
        assert response.headers["X-Sandbox-Contact-Id"] == "2"
        assert body["is_error"] == 0 and isinstance(body["values"], list)
    else:
        assert (body["code"], body["message"], body["data"]["status"]) == (code, message, status)
        assert "X-Sandbox-Contact-Id" not in response.headers


async def test_wp_rest_requires_entity_and_action(civi: Client) -> None:
    response = await civi.get(WP, params={"key": SITE_KEY, "api_key": "apikey-two", "action": "get"})
    body = json.loads(await response.text())
    assert (response.status, body["code"], body["message"]) == (
        400,
        "rest_missing_callback_param",
        "Missing parameter(s): entity",
    )


# ---- recording and delay --------------------------------------------------------------------------


async def test_every_request_is_recorded_before_auth(civi: Client) -> None:
    await civi.post(V4, data={"params": "{}"}, headers={"X-Civi-Auth": "Bearer wrong"})
    received = civi.app[CIVI_RECEIVED]
    assert [(r.method, r.path_qs) for r in received] == [("POST", V4)]
    assert received[0].headers["X-Civi-Auth"] == "Bearer wrong"
    assert received[0].body == b"params=%7B%7D"


async def test_delay_can_be_changed_at_runtime(civi: Client) -> None:
    civi.app[CIVI_CONFIG].delay_seconds = 0.2
    started = time.monotonic()
    await civi.get(REST_PHP, params={"q": "civicrm/ping", "json": "1"})
    assert time.monotonic() - started >= 0.2
