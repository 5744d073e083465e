"""Record scope by claim: APIv4 calls get a where clause the client cannot remove; other paths are refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from gateway.configfile.source import load_yaml_text
from gateway.errors import ConfigError
from gateway.policy.policies import policies_from_documents
from tests.support.stack import Stack, start_stack

SCOPED = """
policy: scoped
subjects: {principals: [svc-test]}
entities:
  Contact: {get: allow, update: allow, create: allow, meta: allow}
  Email: {get: allow}
scope:
  Contact: {field: id, claim: contact_ids}
"""


@pytest.fixture
async def stack(aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path) -> Stack:
    return await start_stack(aiohttp_server, aiohttp_client, tmp_path, policies={"scoped": SCOPED})


def _params(query: str) -> dict[str, Any]:
    params: dict[str, Any] = json.loads(parse_qs(urlsplit(query).query)["params"][0])
    return params


async def test_get_is_narrowed_to_the_claimed_records(stack: Stack) -> None:
    params = quote(json.dumps({"select": ["id", "display_name"], "where": [["id", ">", 0]]}))
    resp = await stack.client.get(
        f"/civi-jwt/civicrm/ajax/api4/Contact/get?params={params}", headers=stack.bearer(contact_ids=[42])
    )
    body = await resp.json()
    assert resp.status == 200, body
    assert [row["id"] for row in body["values"]] == [42]
    sent = _params(stack.civi_received[-1].path_qs)
    assert sent["where"][0] == ["id", "IN", [42]]
    assert ["id", ">", 0] in sent["where"]


async def test_scope_applies_to_form_params_too(stack: Stack) -> None:
    resp = await stack.client.post(
        "/civi-jwt/civicrm/ajax/api4/Contact/get",
        data={"params": json.dumps({"select": ["id"]})},
        headers=stack.bearer(contact_ids=[2]),
    )
    body = await resp.json()
    assert resp.status == 200, body
    assert [row["id"] for row in body["values"]] == [2]


async def test_missing_claim_is_refused(stack: Stack) -> None:
    resp = await stack.client.get("/civi-jwt/civicrm/ajax/api4/Contact/get", headers=stack.bearer())
    assert resp.status == 403
    assert (await resp.json())["error_code"] == "scope-claim-missing"
    assert stack.civi_received == []


@pytest.mark.parametrize(
    "path",
    [
        # a v4 join, a dotted implicit join, a chain and APIv3 all reach Contact around the where clause
        "/civi-jwt/civicrm/ajax/api4/Email/get?params="
        + quote(json.dumps({"join": [["Contact AS c", "INNER", ["c.id", "=", "contact_id"]]]})),
        "/civi-jwt/civicrm/ajax/api4/Email/get?params="
        + quote(json.dumps({"select": ["contact_id.display_name"]})),
        "/civi-jwt/civicrm/ajax/api4/Email/get?params="
        + quote(json.dumps({"chain": {"c": ["Contact", "get", {"where": [["id", "=", "$contact_id"]]}]}})),
        "/civi-keys/sites/all/modules/civicrm/extern/rest.php?entity=Contact&action=get&json=1",
    ],
)
async def test_other_paths_to_a_scoped_entity_are_refused(stack: Stack, path: str) -> None:
    resp = await stack.client.get(path, headers=stack.bearer(contact_ids=[42]))
    assert resp.status == 403, await resp.text()
    assert (await resp.json())["error_code"] == "scope-unsupported"
    assert stack.civi_received == []


async def test_unscoped_entity_and_meta_pass_unchanged(stack: Stack) -> None:
    resp = await stack.client.get(
        "/civi-jwt/civicrm/ajax/api4/Email/get", headers=stack.bearer(contact_ids=[42])
    )
    assert resp.status == 200, await resp.text()
    assert "params" not in stack.civi_received[-1].path_qs


def test_scope_field_must_be_plain() -> None:
    bad = SCOPED.replace("field: id", "field: employer_id.id")
    with pytest.raises(ConfigError) as info:
        policies_from_documents([("scoped.yaml", load_yaml_text(bad, "scoped.yaml"))], {"civi": "civicrm"})
    assert "scope.Contact" in str(info.value) and "scoped.yaml:" in str(info.value)


async def test_api_key_is_stripped_from_civicrm_answers(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    stack = await start_stack(aiohttp_server, aiohttp_client, tmp_path)
    for path in (
        "/civi-keys/sites/all/modules/civicrm/extern/rest.php?entity=Contact&action=get&json=1",
        "/civi-keys/sites/all/modules/civicrm/extern/rest.php?entity=Contact&action=get",
    ):
        resp = await stack.client.get(path, headers=stack.bearer())
        text = await resp.text()
        assert resp.status == 200, text
        assert "Integration" in text, "the answer itself still arrives"
        assert "civi-contact-42-api-key" not in text and "admin-contact-key" not in text


async def test_api_key_passes_when_a_policy_allows_the_field(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    allow = """
policy: key-admin
subjects: {principals: [svc-test]}
entities:
  "*": {default: allow}
fields:
  Contact: {allow: [api_key]}
"""
    stack = await start_stack(aiohttp_server, aiohttp_client, tmp_path, policies={"key-admin": allow})
    resp = await stack.client.get(
        "/civi-keys/sites/all/modules/civicrm/extern/rest.php?entity=Contact&action=get&json=1",
        headers=stack.bearer(),
    )
    assert "admin-contact-key" in await resp.text()


async def test_civicrm_answers_are_not_compressed_past_redaction(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    stack = await start_stack(aiohttp_server, aiohttp_client, tmp_path)
    path = "/civi-keys/sites/all/modules/civicrm/extern/rest.php?entity=Contact&action=get&json=1"
    resp = await stack.client.get(path, headers={**stack.bearer(), "Accept-Encoding": "gzip"})
    assert resp.status == 200
    assert stack.civi_received[-1].headers["Accept-Encoding"] == "identity"
    assert "admin-contact-key" not in await resp.text()
