"""The gateway token in every slot an existing client fills, and refusals in each client's dialect."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from tests.support.stack import Stack, start_stack

V4 = "/civi-jwt/civicrm/ajax/api4/Contact/get"
V3_JSON = "/civi-keys/sites/all/modules/civicrm/extern/rest.php?entity=Contact&action=get&json=1"
V3_XML = "/civi-keys/sites/all/modules/civicrm/extern/rest.php?entity=Contact&action=get"
ESPO = "/espo-key/api/v1/Lead"


@pytest.fixture
async def stack(aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path) -> Stack:
    return await start_stack(aiohttp_server, aiohttp_client, tmp_path)


SLOTS = [
    "authorization",
    "x-civi-auth",
    "x-api-key",
    "_authx-query",
    "_authx-form",
    "api_key-query",
    "api_key-form",
]


def _placed(slot: str, token: str) -> tuple[dict[str, str], str, dict[str, str] | None]:
    """headers, query suffix, form body for a token in ``slot``."""
    return {
        "authorization": ({"Authorization": f"Bearer {token}"}, "", None),
        "x-civi-auth": ({"X-Civi-Auth": f"Bearer {token}"}, "", None),
        "x-api-key": ({"X-Api-Key": token}, "", None),
        "_authx-query": ({}, f"&_authx=Bearer%20{token}", None),
        "_authx-form": ({}, "", {"_authx": f"Bearer {token}"}),
        "api_key-query": ({}, f"&api_key={token}", None),
        "api_key-form": ({}, "", {"api_key": token}),
    }[slot]


@pytest.mark.parametrize("slot", SLOTS)
async def test_token_accepted_in_every_slot_and_never_forwarded(stack: Stack, slot: str) -> None:
    token = stack.token()
    headers, query, form = _placed(slot, token)
    path = "/civi-keys/civicrm/ajax/rest?entity=Contact&action=get&json=1" + query
    if form is not None:
        resp = await stack.client.post(path, data={**form, "sequential": "1"}, headers=headers)
    else:
        resp = await stack.client.get(path, headers=headers)
    assert resp.status == 200, await resp.text()
    assert resp.headers["X-Sandbox-Contact-Id"] == "42"
    seen = stack.civi_received[-1]
    assert token not in seen.path_qs and token.encode() not in seen.body
    assert not any(token in v for v in seen.headers.values())
    assert "_authx" not in seen.path_qs and b"_authx" not in seen.body


async def test_two_different_tokens_are_refused(stack: Stack) -> None:
    resp = await stack.client.get(
        ESPO, headers={"Authorization": f"Bearer {stack.token()}", "X-Api-Key": stack.token(sub="other")}
    )
    assert resp.status == 401
    assert (
        "multiple" in resp.headers["X-Status-Reason"].lower() or "multiple" in (await resp.json())["reason"]
    )
    assert stack.espo_received == []


async def test_same_token_in_two_slots_is_fine(stack: Stack) -> None:
    token = stack.token()
    resp = await stack.client.get(ESPO, headers={"Authorization": f"Bearer {token}", "X-Api-Key": token})
    assert resp.status == 200


async def test_v4_refusal_is_json_with_error_code_and_www_authenticate(stack: Stack) -> None:
    resp = await stack.client.get(V4)
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    body = await resp.json()
    assert body["is_error"] == 1 and body["error_code"] == "missing-token"
    assert body["error_message"]
    assert stack.civi_received == []


async def test_v3_refusal_is_json_when_client_asked_for_json(stack: Stack) -> None:
    resp = await stack.client.get(V3_JSON, headers={"Authorization": "Bearer not.a.jwt"})
    assert resp.status == 401
    body = json.loads(await resp.text())
    assert body["is_error"] == 1 and body["error_code"] == "malformed-token"
    assert "not.a.jwt" not in await resp.text()


async def test_v3_refusal_is_xml_resultset_without_json_param(stack: Stack) -> None:
    resp = await stack.client.get(V3_XML)
    assert resp.status == 401
    root = ElementTree.fromstring(await resp.text())
    assert root.tag == "ResultSet"
    assert root.find("Result/is_error").text == "1"  # type: ignore[union-attr]


async def test_espo_refusal_carries_status_reason(stack: Stack) -> None:
    expired = stack.token(exp=1_000_000, iat=999_000, nbf=999_000)
    resp = await stack.client.get(ESPO, headers={"X-Api-Key": expired})
    assert resp.status == 401
    assert resp.headers["X-Status-Reason"]
    assert (await resp.json())["reason"] == "token-expired"
    assert expired not in await resp.text() and expired not in resp.headers["X-Status-Reason"]


async def test_unknown_subject_has_no_identity(stack: Stack) -> None:
    resp = await stack.client.get(ESPO, headers=stack.bearer(sub="nobody"))
    assert resp.status == 403
    assert stack.espo_received == []


async def test_no_route_is_404_json(stack: Stack) -> None:
    resp = await stack.client.get("/nowhere/x", headers=stack.bearer())
    assert resp.status == 404
    assert (await resp.json())["error_code"] == "no-route"
