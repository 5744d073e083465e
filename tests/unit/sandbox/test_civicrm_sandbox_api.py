"""The sandbox CiviCRM's data API: real v3/v4 shapes on every route a CMS may put CiviCRM under."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.sandbox.civicrm import CIVI_STORE, CiviSandboxConfig, SandboxContact, build_civicrm_app

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]

SITE_KEY = "site-key-123456"
KEYS = {"key": SITE_KEY, "api_key": "apikey-two"}
AUTHX = {"X-Civi-Auth": "Bearer apikey-two", "X-Civi-Key": SITE_KEY}
CONTACTS = [
    SandboxContact(2, "apikey-two", "Alice Two", "alice@example.org"),
    SandboxContact(3, "apikey-three", "Bob Three", "bob@example.org"),
    SandboxContact(4, None, "Carol Four"),
]


@pytest.fixture
async def civi(aiohttp_client: MakeClient) -> Client:
    config = CiviSandboxConfig(site_key=SITE_KEY, sign_keys="", contacts=list(CONTACTS))
    return await aiohttp_client(build_civicrm_app(config))


async def v3(client: Client, method: str = "GET", **params: Any) -> Any:
    query = {**KEYS, "json": "1"}
    if method == "GET":
        response = await client.get("/civicrm/extern/rest.php", params={**query, **params})
    else:
        response = await client.post("/civicrm/extern/rest.php", params=query, data=params)
    assert response.status == 200
    return json.loads(await response.text())


async def v4(client: Client, entity: str, action: str, params: dict[str, Any], status: int = 200) -> Any:
    response = await client.post(
        f"/civicrm/ajax/api4/{entity}/{action}", data={"params": json.dumps(params)}, headers=AUTHX
    )
    assert response.status == status
    return json.loads(await response.text())


# ---- routes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/civicrm/ajax/rest",
        "/drupal/civicrm/ajax/rest",
        "/?q=civicrm/ajax/rest",
        "/index.php?q=civicrm/ajax/rest",
        "/wp-admin/admin.php?page=CiviCRM&q=civicrm/ajax/rest",
        "/administrator/index.php?option=com_civicrm&task=civicrm/ajax/rest",
        "/sites/all/modules/civicrm/extern/rest.php",
        "/wp-content/plugins/civicrm/civicrm/extern/rest.php",
        "/wp-json/civicrm/v3/rest",
        "/?rest_route=/civicrm/v3/rest",
    ],
)
async def test_v3_routes(civi: Client, target: str) -> None:
    joiner = "&" if "?" in target else "?"
    response = await civi.get(
        f"{target}{joiner}entity=Contact&action=getcount&json=1&key={SITE_KEY}&api_key=apikey-two"
    )
    body = json.loads(await response.text())
    assert response.status == 200
    assert body.get("result", body) in (3, {"is_error": 0, "result": 3})
    assert response.headers["X-Sandbox-Contact-Id"] == "2"


@pytest.mark.parametrize(
    "target",
    [
        "/civicrm/ajax/api4/Contact/get",
        "/backdrop/civicrm/ajax/api4/Contact/get",
        "/?q=civicrm/ajax/api4/Contact/get",
        "/wp-admin/admin.php?page=CiviCRM&q=civicrm/ajax/api4/Contact/get",
        "/administrator/index.php?option=com_civicrm&task=civicrm/ajax/api4/Contact/get",
    ],
)
async def test_v4_routes(civi: Client, target: str) -> None:
    response = await civi.get(target, headers=AUTHX)
    body = json.loads(await response.text())
    assert (response.status, body["entity"], body["action"], body["count"]) == (200, "Contact", "get", 3)


@pytest.mark.parametrize(
    "target", ["/", "/civicrm-not/ajax", "/index.php?q=user/login", "/wp-admin/admin.php"]
)
async def test_other_paths_are_not_found(civi: Client, target: str) -> None:
    assert (await civi.get(target, headers=AUTHX)).status == 404


# ---- v3 -----------------------------------------------------------------------------------------


async def test_v3_get_shape(civi: Client) -> None:
    body = await v3(civi, entity="Contact", action="get", id="2")
    assert body["is_error"] == 0 and body["version"] == 3 and body["count"] == 1 and body["id"] == 2
    assert body["values"]["2"]["display_name"] == "Alice Two"
    assert body["values"]["2"]["api_key"] == "apikey-two"
    assert body["values"]["2"]["id"] == "2"


@pytest.mark.parametrize(
    ("params", "check"),
    [
        ({"sequential": "1"}, lambda b: isinstance(b["values"], list) and b["count"] == 3),
        (
            {"return": "display_name", "id": "3"},
            lambda b: b["values"]["3"] == {"id": "3", "display_name": "Bob Three", "contact_id": "3"},
        ),
        ({"options[limit]": "1", "options[sort]": "id DESC"}, lambda b: list(b["values"]) == ["4"]),
        ({"json": json.dumps({"sequential": 1, "options": {"limit": 2}})}, lambda b: len(b["values"]) == 2),
        (
            {"json": json.dumps({"display_name": "Nobody"}), "display_name": "Carol Four"},
            lambda b: b["count"] == 1,
        ),
        ({"display_name": "alice two"}, lambda b: b["count"] == 1),
    ],
    ids=["sequential", "return", "options-brackets", "json-params", "param-overrides-json", "ci-collation"],
)
async def test_v3_get_params(civi: Client, params: dict[str, str], check: Callable[[Any], bool]) -> None:
    assert check(await v3(civi, entity="Contact", action="get", **params))


@pytest.mark.parametrize("entity", ["Contact", "contact", "CONTACT", "con_tact"])
async def test_v3_entity_names_ignore_case_and_underscores(civi: Client, entity: str) -> None:
    assert (await v3(civi, entity=entity, action="GetCount")) == {"is_error": 0, "result": 3}


async def test_v3_getsingle_and_its_error(civi: Client) -> None:
    single = await v3(civi, entity="Email", action="getsingle", contact_id="2")
    assert single["email"] == "alice@example.org" and single["is_error"] == 0
    several = await v3(civi, entity="Contact", action="getsingle")
    assert several == {"is_error": 1, "error_message": "Expected one Contact but found 3"}


async def test_v3_create_update_delete_over_post(civi: Client) -> None:
    created = await v3(
        civi, "POST", entity="Contact", action="create", contact_type="Individual", display_name="New Person"
    )
    new_id = str(created["id"])
    assert created["values"][new_id]["display_name"] == "New Person"
    updated = await v3(civi, "POST", entity="Contact", action="create", id=new_id, display_name="Renamed")
    assert updated["values"][new_id]["display_name"] == "Renamed"
    deleted = await v3(civi, "POST", entity="Contact", action="delete", id=new_id)
    assert deleted == {"is_error": 0, "version": 3, "count": 1, "values": 1}
    assert civi.app[CIVI_STORE].get("Contact", int(new_id)) is None


@pytest.mark.parametrize(
    ("method", "params", "message"),
    [
        (
            "GET",
            {"entity": "Contact", "action": "create", "contact_type": "Individual"},
            "SECURITY: All requests that modify the database must be http POST, not GET.",
        ),
        (
            "POST",
            {"entity": "Contact", "action": "create"},
            "Mandatory key(s) missing from params array: contact_type",
        ),
        ("POST", {"entity": "Contact", "action": "delete"}, "Mandatory key(s) missing from params array: id"),
        (
            "GET",
            {"entity": "Widget", "action": "get"},
            "API (Widget, get) does not exist (join the API team and implement it!)",
        ),
        (
            "GET",
            {"entity": "Contact", "action": "get", "version": "2"},
            "FATAL: API v2 not accessible from ajax/REST",
        ),
        (
            "POST",
            {"entity": "Contact", "action": "get", "className": "CRM_Core_Page_AJAX", "fnName": "x"},
            "Unknown function invocation.",
        ),
    ],
    ids=["destructive-get", "create-missing", "delete-missing", "unknown-entity", "v2", "classname"],
)
async def test_v3_errors(civi: Client, method: str, params: dict[str, str], message: str) -> None:
    body = await v3(civi, method, **params)
    assert body["is_error"] == 1 and body["error_message"] == message


async def test_v3_getfields_and_xml(civi: Client) -> None:
    fields = await v3(civi, entity="Contact", action="getfields")
    assert fields["values"]["api_key"]["type"] == 2
    response = await civi.get(
        "/civicrm/extern/rest.php", params={**KEYS, "entity": "Contact", "action": "get", "id": "2"}
    )
    text = await response.text()
    assert response.headers["Content-Type"].startswith("text/xml")
    assert 'count="1"' in text and "<display_name>Alice Two</display_name>" in text


async def test_v3_ajax_batch(civi: Client) -> None:
    calls = {"one": ["Contact", "getcount", {}], "two": ["Email", "get", {"contact_id": 3, "sequential": 1}]}
    response = await civi.post(
        "/civicrm/ajax/rest", data={"entity": "api3", "action": "call", "json": json.dumps(calls), **KEYS}
    )
    body = json.loads(await response.text())
    assert body["one"] == 3
    assert body["two"]["values"][0]["email"] == "bob@example.org"


# ---- v4 -----------------------------------------------------------------------------------------


async def test_v4_get_shape(civi: Client) -> None:
    body = await v4(
        civi,
        "Contact",
        "get",
        {"select": ["id", "display_name"], "where": [["id", ">", 2]], "orderBy": {"id": "DESC"}, "limit": 1},
    )
    assert body == {
        "values": [{"id": 4, "display_name": "Carol Four"}],
        "entity": "Contact",
        "action": "get",
        "debug": None,
        "version": 4,
        "count": 1,
        "countFetched": 1,
    }


@pytest.mark.parametrize(
    ("where", "ids"),
    [
        ([["display_name", "LIKE", "b%"]], [3]),
        ([["display_name", "NOT LIKE", "%o%"]], []),
        ([["id", "IN", [2, 4]]], [2, 4]),
        ([["id", "NOT IN", [2, 4]]], [3]),
        ([["email", "IS EMPTY"]], [4]),
        ([["OR", [["id", "=", 2], ["id", "=", 3]]]], [2, 3]),
        ([["api_key", "IS NULL"]], [4]),
    ],
)
async def test_v4_where(civi: Client, where: list[Any], ids: list[int]) -> None:
    body = await v4(civi, "Contact", "get", {"select": ["id"], "where": where})
    assert [row["id"] for row in body["values"]] == ids


async def test_v4_implicit_join_in_select_and_where(civi: Client) -> None:
    body = await v4(
        civi,
        "Email",
        "get",
        {
            "select": ["email", "contact_id.display_name"],
            "where": [["contact_id.display_name", "=", "Bob Three"]],
        },
    )
    assert body["values"] == [{"email": "bob@example.org", "contact_id.display_name": "Bob Three"}]


async def test_v4_create_update_save_delete(civi: Client) -> None:
    created = await v4(
        civi,
        "Activity",
        "create",
        {"values": {"activity_type_id": 3, "source_contact_id": 2, "subject": "Call"}},
    )
    new_id = created["values"][0]["id"]
    updated = await v4(
        civi, "Activity", "update", {"values": {"subject": "Follow-up"}, "where": [["id", "=", new_id]]}
    )
    assert updated["values"][0]["subject"] == "Follow-up"
    saved = await v4(civi, "Activity", "save", {"records": [{"id": new_id, "status_id": 1}]})
    assert saved["values"][0]["status_id"] == 1
    deleted = await v4(civi, "Activity", "delete", {"where": [["id", "=", new_id]]})
    assert deleted["values"] == [{"id": new_id}] and deleted["action"] == "delete"


@pytest.mark.parametrize(
    ("entity", "action", "params", "status", "message"),
    [
        ("Widget", "get", {}, 500, "API (Widget, get) does not exist (join the API team and implement it!)"),
        (
            "contact",
            "get",
            {},
            500,
            "API (contact, get) does not exist (join the API team and implement it!)",
        ),
        (
            "Contact",
            "explode",
            {},
            500,
            "API (Contact, explode) does not exist (join the API team and implement it!)",
        ),
        (
            "Contact",
            "create",
            {"values": {}},
            500,
            "Mandatory values missing from Api4 Contact::create: contact_type",
        ),
        ("Contact", "delete", {}, 500, 'Cannot delete Contact with no "where" parameter specified'),
        ("Contact", "get", {"bogus": 1}, 500, "Unknown api parameter: bogus"),
    ],
)
async def test_v4_errors(
    civi: Client, entity: str, action: str, params: dict[str, Any], status: int, message: str
) -> None:
    body = await v4(civi, entity, action, params, status)
    assert (body["error_message"], body["status"]) == (message, status)


async def test_v4_action_names_are_case_insensitive_like_php(civi: Client) -> None:
    body = await v4(civi, "Contact", "GET", {"select": ["id"], "limit": 1})
    assert body["action"] == "get" and body["count"] == 1


async def test_v4_params_in_query_of_a_post_with_empty_body(civi: Client) -> None:
    response = await civi.post(
        "/civicrm/ajax/api4/Contact/get", params={"params": '{"where":[["id","=",3]]}'}, headers=AUTHX
    )
    assert json.loads(await response.text())["values"][0]["display_name"] == "Bob Three"


async def test_v4_index_param(civi: Client) -> None:
    response = await civi.get(
        "/civicrm/ajax/api4/Contact/get", params={"params": "{}", "index": "0"}, headers=AUTHX
    )
    assert json.loads(await response.text())["values"]["id"] == 2


async def test_v4_batch_mixed_results(civi: Client) -> None:
    calls = {"a": ["Contact", "get", {"select": ["id"], "where": [["id", "=", 2]]}], "b": ["Nope", "get", {}]}
    response = await civi.post("/civicrm/ajax/api4", data={"calls": json.dumps(calls)}, headers=AUTHX)
    body = json.loads(await response.text())
    assert response.status == 200
    assert body["a"]["values"] == [{"id": 2}]
    assert body["b"]["status"] == 500
    failing = await civi.post(
        "/civicrm/ajax/api4", data={"calls": json.dumps({"b": ["Nope", "get"]})}, headers=AUTHX
    )
    assert failing.status == 500


async def test_v4_batch_is_post_only(civi: Client) -> None:
    response = await civi.get("/civicrm/ajax/api4", params={"calls": "{}"}, headers=AUTHX)
    assert response.status == 405


async def test_multipart_form_body_is_read(civi: Client) -> None:
    import aiohttp

    form = aiohttp.FormData()
    for name, value in {**KEYS, "entity": "Contact", "action": "getcount", "json": "1"}.items():
        form.add_field(name, value, content_type="text/plain")
    response = await civi.post("/civicrm/extern/rest.php", data=form)
    assert json.loads(await response.text()) == {"is_error": 0, "result": 3}


@pytest.mark.parametrize(
    ("target", "status"),
    [
        ("/civicrm/ajax/api4/Contact/get?q=civicrm/ajax/api4/Contact/delete", 400),
        ("/civicrm/ajax/api4/Contact/get?option=com_civicrm&task=civicrm/ajax/rest", 400),
        ("/civicrm/ajax/api4/Contact/get?q=civicrm/ajax/api4/Contact/get", 200),
        ("/civicrm/civicrm/ajax/api4/Contact/get", 200),
    ],
    ids=["path-vs-q", "path-vs-task", "same-route-twice", "base-path-named-civicrm"],
)
async def test_two_routes_in_one_request_are_refused(civi: Client, target: str, status: int) -> None:
    assert (await civi.get(target, headers=AUTHX)).status == status
