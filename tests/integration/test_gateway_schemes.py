"""Every credential scheme and endpoint style, end to end: client -> gateway -> sandbox CRM over real sockets.

The sandboxes check credentials the way the real servers do and say whom they saw, so a signer that is
"almost right" fails here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.support.stack import CIVI_SCHEMES, ESPO_SCHEMES, Stack, start_stack

PARAMS = quote(json.dumps({"select": ["display_name"], "where": [["id", "=", 42]]}))
CALLS = json.dumps({"one": ["Contact", "get", {"select": ["display_name"]}], "two": ["Email", "get", {}]})

# (name, method, relative path with query, form body)
CIVI_ENDPOINTS: list[tuple[str, str, str, dict[str, str] | None]] = [
    ("rest.php", "GET", "/sites/all/modules/civicrm/extern/rest.php?entity=Contact&action=get&json=1", None),
    (
        "rest.php-post",
        "POST",
        "/sites/all/modules/civicrm/extern/rest.php",
        {"entity": "Contact", "action": "get", "json": "1"},
    ),
    ("ajax-rest", "GET", "/civicrm/ajax/rest?entity=Contact&action=get&json=1", None),
    ("api4-get", "GET", f"/civicrm/ajax/api4/Contact/get?params={PARAMS}", None),
    (
        "api4-post",
        "POST",
        "/civicrm/ajax/api4/Contact/get",
        {"params": json.dumps({"select": ["display_name"]})},
    ),
    ("api4-batch", "POST", "/civicrm/ajax/api4", {"calls": CALLS}),
    ("wp-rest", "GET", "/wp-json/civicrm/v3/rest?entity=Contact&action=get&json=1", None),
    ("drupal7", "GET", f"/?q=civicrm/ajax/api4/Contact/get&params={PARAMS}", None),
    (
        "wordpress",
        "GET",
        f"/wp-admin/admin.php?page=CiviCRM&q=civicrm/ajax/api4/Contact/get&params={PARAMS}",
        None,
    ),
    (
        "joomla",
        "GET",
        f"/administrator/index.php?option=com_civicrm&task=civicrm/ajax/api4/Contact/get&params={PARAMS}",
        None,
    ),
]
# rest.php and WordPress REST only know site key + api_key; AuthX serves the civicrm/* routes.
KEYS_ONLY = {"rest.php", "rest.php-post", "wp-rest"}
EXPECTED_FLOW = {
    "civi-keys": None,
    "civi-apikey": "xheader",
    "civi-apikey-header": "header",
    "civi-apikey-param": "param",
    "civi-jwt": "xheader",
    "civi-jwt-header": "header",
    "civi-jwt-param": "param",
    "civi-basic": "xheader",
}
EXPECTED_CRED = {"civi-jwt": "jwt", "civi-jwt-header": "jwt", "civi-jwt-param": "jwt", "civi-basic": "pass"}

CASES = [
    pytest.param(scheme, name, method, path, form, id=f"{scheme}-{name}")
    for scheme in CIVI_SCHEMES
    for name, method, path, form in CIVI_ENDPOINTS
    if scheme == "civi-keys" or name not in KEYS_ONLY
]


@pytest.fixture
async def stack(aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path) -> Stack:
    return await start_stack(aiohttp_server, aiohttp_client, tmp_path)


@pytest.mark.parametrize(("scheme", "endpoint", "method", "path", "form"), CASES)
async def test_civicrm_scheme_reaches_sandbox_as_the_mapped_contact(
    stack: Stack, scheme: str, endpoint: str, method: str, path: str, form: dict[str, str] | None
) -> None:
    token = stack.token()
    resp = await stack.client.request(
        method, f"/{scheme}{path}", data=form, headers={"X-Civi-Auth": f"Bearer {token}"}
    )
    body = await resp.text()
    assert resp.status == 200, body
    assert resp.headers.get("X-Sandbox-Contact-Id") == "42", body
    if EXPECTED_FLOW[scheme] is not None:
        assert resp.headers["X-Sandbox-Auth-Flow"] == EXPECTED_FLOW[scheme]
    if scheme in EXPECTED_CRED:
        assert resp.headers["X-Sandbox-Cred-Type"] == EXPECTED_CRED[scheme]
    parsed = json.loads(body)
    assert not parsed.get("is_error"), parsed
    received = stack.civi_received[-1]
    assert token not in received.path_qs and token.encode() not in received.body
    assert all(token not in value for value in received.headers.values())


@pytest.mark.parametrize("scheme", list(ESPO_SCHEMES))
async def test_espo_scheme_reaches_sandbox_as_the_mapped_user(stack: Stack, scheme: str) -> None:
    token = stack.token()
    resp = await stack.client.get(f"/{scheme}/api/v1/Lead?maxSize=5", headers={"X-Api-Key": token})
    body = await resp.text()
    assert resp.status == 200, body
    expected = {"espo-key": "u-api", "espo-hmac": "u-hmac", "espo-hmac-raw": "u-hmac"}.get(scheme, "u-basic")
    assert resp.headers["X-Sandbox-User-Id"] == expected
    assert "list" in json.loads(body)
    received = stack.espo_received[-1]
    assert all(token not in value for value in received.headers.values())


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/Account/a-1/contacts",
        "/api/v1/Lead/l-1",
        "/api/v1/Contact?select=id%2Cname&where%5B0%5D%5Btype%5D=equals&where%5B0%5D%5Battribute%5D=name&where%5B0%5D%5Bvalue%5D=x",
    ],
)
async def test_espo_hmac_signs_the_forwarded_path_not_the_query(stack: Stack, path: str) -> None:
    resp = await stack.client.get(f"/espo-hmac{path}", headers=stack.bearer())
    assert resp.headers.get("X-Sandbox-User-Id") == "u-hmac", await resp.text()


async def test_espo_post_body_is_forwarded_intact(stack: Stack) -> None:
    resp = await stack.client.post(
        "/espo-hmac/api/v1/Lead", json={"firstName": "Ada", "lastName": "Lovelace"}, headers=stack.bearer()
    )
    body = await resp.json()
    assert resp.status == 200, body
    assert body["lastName"] == "Lovelace"
    assert json.loads(stack.espo_received[-1].body) == {"firstName": "Ada", "lastName": "Lovelace"}


async def test_minted_civicrm_jwt_is_short_lived_and_reused(stack: Stack) -> None:
    import jwt as pyjwt

    for _ in range(2):
        resp = await stack.client.get(
            f"/civi-jwt/civicrm/ajax/api4/Contact/get?params={PARAMS}", headers=stack.bearer()
        )
        assert resp.status == 200
    first, second = (r.headers["X-Civi-Auth"] for r in stack.civi_received[-2:])
    assert first == second, "a minted token is reused until shortly before it expires"
    claims = pyjwt.decode(first.removeprefix("Bearer "), options={"verify_signature": False})
    assert claims["sub"] == "cid:42" and claims["scope"] == "authx"
    assert 0 < claims["exp"] - claims.get("iat", claims["exp"] - 300) <= 300


async def test_requested_with_is_injected_for_civicrm_ajax(stack: Stack) -> None:
    resp = await stack.client.get(
        "/civi-apikey-header/civicrm/ajax/rest?entity=Contact&action=get&json=1", headers=stack.bearer()
    )
    assert resp.status == 200, await resp.text()
    assert stack.civi_received[-1].headers.get("X-Requested-With") == "XMLHttpRequest"
    assert not (await resp.json()).get("is_error")
