from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import yarl
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

from gateway.sandbox.espocrm import (
    ESPO_RECEIVED,
    ESPO_STORE,
    EspoSandboxConfig,
    EspoUser,
    build_espo_app,
)
from gateway.sandbox.espocrm_routes import attachment_content
from gateway.sandbox.espocrm_store import ACME, GLOBEX

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]

USERS = [EspoUser("u-api", "api", "ApiKey", api_key="k-1")]
AUTH = {"X-Api-Key": "k-1"}
ALAN = "6b0343f1ef822e8b5"


async def send(
    client: Client, method: str, target: str, *, auth: bool = True, **kwargs: Any
) -> ClientResponse:
    url = yarl.URL(str(client.make_url("")).rstrip("/") + target, encoded=True)
    return await client.session.request(method, url, headers=AUTH if auth else {}, **kwargs)


async def ok_json(client: Client, method: str, target: str, **kwargs: Any) -> Any:
    response = await send(client, method, target, **kwargs)
    assert response.status == 200, response.headers.get("X-Status-Reason")
    assert response.headers["X-Sandbox-User-Id"] == "u-api"
    return await response.json()


@pytest.fixture
async def espo(aiohttp_client: MakeClient) -> Client:
    return await aiohttp_client(build_espo_app(EspoSandboxConfig(users=USERS)))


async def test_list_honours_max_size_offset_select_and_order(espo: Client) -> None:
    everything = await ok_json(espo, "GET", "/api/v1/Lead")
    assert everything["total"] == 3 and len(everything["list"]) == 3
    query = "maxSize=1&offset=1&select=name,status&orderBy=name&order=desc"
    page = await ok_json(espo, "GET", f"/api/v1/Lead?{query}")
    assert page["total"] == 3
    assert page["list"] == [{"id": "6b0343f1f3e1a0c22", "name": "John Roe", "status": "Assigned"}]
    filtered = await ok_json(
        espo,
        "GET",
        "/api/v1/Lead?where%5B0%5D%5Btype%5D=equals&where%5B0%5D%5Battribute%5D=status"
        "&where%5B0%5D%5Bvalue%5D=Assigned",
    )
    assert [lead["name"] for lead in filtered["list"]] == ["John Roe"]


@pytest.mark.parametrize(
    ("query", "status"), [("maxSize=201", 403), ("maxSize=200", 200), ("maxSize=x", 400), ("offset=-1", 400)]
)
async def test_list_limits(espo: Client, query: str, status: int) -> None:
    response = await send(espo, "GET", f"/api/v1/Contact?{query}")
    assert response.status == status
    if status == 403:
        assert response.headers["X-Status-Reason"] == "Max size should not exceed 200. Use offset and limit."
        assert (await response.json())["message"] == response.headers["X-Status-Reason"]


async def test_crud_round_trip(espo: Client) -> None:
    fields = {"firstName": "Ann", "lastName": "Lee", "id": "x"}
    created = await ok_json(espo, "POST", "/api/v1/Lead", json=fields)
    assert created["name"] == "Ann Lee" and created["id"] != "x" and len(created["id"]) == 17
    path = f"/api/v1/Lead/{created['id']}"
    assert (await ok_json(espo, "GET", path))["lastName"] == "Lee"
    assert (await ok_json(espo, "PUT", path, json={"status": "Assigned"}))["status"] == "Assigned"
    assert (await ok_json(espo, "PATCH", path, json={"lastName": "Li"}))["name"] == "Ann Li"
    assert await ok_json(espo, "DELETE", path) is True
    gone = await send(espo, "GET", path)
    assert gone.status == 404
    assert gone.headers["X-Sandbox-User-Id"] == "u-api"
    assert "not found" in gone.headers["X-Status-Reason"]


@pytest.mark.parametrize(("method", "body"), [("POST", b"{nope"), ("POST", b"[1]"), ("PUT", b'"x"')])
async def test_bad_payloads_are_400(espo: Client, method: str, body: bytes) -> None:
    target = "/api/v1/Account" if method == "POST" else f"/api/v1/Account/{ACME}"
    response = await send(espo, method, target, data=body)
    assert response.status == 400
    assert response.headers["X-Status-Reason"]


@pytest.mark.parametrize(
    ("target", "status", "entity_name"),
    [
        (f"/api/v1/Account/{ACME}", 200, "Acme Corporation"),
        (f"/api/v1/account/{ACME}", 200, "Acme Corporation"),
        (f"/api/v1/%41ccount/{ACME}", 200, "Acme Corporation"),
        (f"/api/v1/ACCOUNT/{ACME}", 404, None),
        (f"/api/v1/Meeting/{ACME}", 404, None),
        (f"/api/v1/Account%2F{ACME}", 200, "Acme Corporation"),
        (f"/api/v1/index.php/Account/{ACME}", 200, "Acme Corporation"),
        ("/api/v1/Account/", 404, None),
        ("/api/v1", 404, None),
    ],
)
async def test_routing_is_slim_like(espo: Client, target: str, status: int, entity_name: str | None) -> None:
    response = await send(espo, "GET", target)
    assert response.status == status
    assert response.headers["X-Sandbox-User-Id"] == "u-api"
    if entity_name:
        assert (await response.json())["name"] == entity_name


@pytest.mark.parametrize(
    ("raw_id", "decoded_id"), [("abc%20def", "abc def"), ("abc%2520def", "abc def"), ("a+b", "a+b")]
)
async def test_route_arguments_are_rawurldecoded(espo: Client, raw_id: str, decoded_id: str) -> None:
    response = await send(espo, "GET", f"/api/v1/Contact/{raw_id}")
    assert response.status == 404
    assert response.headers["X-Status-Reason"] == f"Record Contact '{decoded_id}' not found."


async def test_method_not_allowed_and_paths_outside_the_api(espo: Client) -> None:
    assert (await send(espo, "DELETE", "/api/v1/Lead")).status == 405
    outside = await send(espo, "GET", "/Lead", auth=False)
    assert outside.status == 404 and "X-Sandbox-User-Id" not in outside.headers
    assert (await send(espo, "GET", "/crm/api/v1/Lead")).status == 404
    malformed = await send(espo, "GET", "//api/v1/Lead")
    assert malformed.status == 400 and malformed.headers["X-Status-Reason"] == "Malformed request path."


async def test_base_path(aiohttp_client: MakeClient) -> None:
    client = await aiohttp_client(build_espo_app(EspoSandboxConfig(users=USERS, base_path="/crm")))
    assert (await send(client, "GET", "/crm/api/v1/Lead")).status == 200
    assert (await send(client, "GET", "/api/v1/Lead")).status == 404


async def test_relationships(espo: Client) -> None:
    contacts = f"/api/v1/Account/{ACME}/contacts"
    assert (await ok_json(espo, "GET", contacts))["total"] == 2
    assert await ok_json(espo, "POST", contacts, json={"id": ALAN}) is True
    assert {c["name"] for c in (await ok_json(espo, "GET", contacts))["list"]} >= {"Alan Turing"}
    assert await ok_json(espo, "DELETE", contacts, json={"ids": [ALAN]}) is True
    assert (await ok_json(espo, "GET", contacts))["total"] == 2
    assert (await ok_json(espo, "GET", f"/api/v1/Account/{GLOBEX}/contacts"))["total"] == 0
    assert (await ok_json(espo, "GET", f"/api/v1/Account/{ACME}/opportunities?maxSize=5"))["total"] == 1
    assert (await send(espo, "GET", f"/api/v1/Account/{ACME}/meetings")).status == 404
    assert (await send(espo, "POST", contacts, json={"id": "missing"})).status == 404


async def test_convert_lead(espo: Client) -> None:
    body = {
        "id": "6b0343f1f3e1a0c11",
        "records": {"Account": {"name": "Doe Inc"}, "Contact": {"firstName": "Jane", "lastName": "Doe"}},
    }
    lead = await ok_json(espo, "POST", "/api/v1/Lead/action/convert", json=body)
    assert lead["status"] == "Converted"
    contact = await ok_json(espo, "GET", f"/api/v1/Contact/{lead['createdContactId']}")
    assert contact["accountId"] == lead["createdAccountId"]
    assert (await send(espo, "POST", "/api/v1/Lead/action/convert", json=body)).status == 409
    assert (await send(espo, "POST", "/api/v1/Lead/action/unknown", json=body)).status == 404
    assert (await send(espo, "GET", "/api/v1/Lead/action/convert")).status == 404


async def test_app_user_mass_action_export_and_search(espo: Client) -> None:
    me = await ok_json(espo, "GET", "/api/v1/App/user")
    assert me["user"] == {"id": "u-api", "userName": "api", "name": "api", "type": "api", "isAdmin": False}

    leads = ["6b0343f1f3e1a0c11", "6b0343f1f3e1a0c22"]
    mass = {"entityType": "Lead", "action": "update", "params": {"ids": leads}, "data": {"status": "Dead"}}
    assert await ok_json(espo, "POST", "/api/v1/MassAction", json=mass) == {"count": 2, "ids": leads}
    assert espo.app[ESPO_STORE].records["Lead"][leads[1]]["status"] == "Dead"

    export = await ok_json(espo, "POST", "/api/v1/Export", json={"entityType": "Account", "ids": [ACME]})
    csv_file = await send(espo, "GET", f"/api/v1/Attachment/file/{export['id']}")
    assert (await csv_file.text()).splitlines() == ["id,name", f"{ACME},Acme Corporation"]

    found = await ok_json(espo, "GET", "/api/v1/GlobalSearch?q=acme")
    assert {(hit["_scope"], hit["name"]) for hit in found["list"]} == {
        ("Account", "Acme Corporation"),
        ("Opportunity", "Acme renewal"),
    }


async def test_attachment_is_streamed(aiohttp_client: MakeClient) -> None:
    size = 3 * 1024 * 1024 + 17
    client = await aiohttp_client(build_espo_app(EspoSandboxConfig(users=USERS, attachment_size=size)))
    response = await send(client, "GET", "/api/v1/Attachment/file/any-id")
    assert response.status == 200
    assert response.headers["Content-Length"] == str(size)
    assert response.headers["X-Sandbox-User-Id"] == "u-api"
    digest, chunks = hashlib.sha256(), 0
    async for chunk in response.content.iter_any():
        digest.update(chunk)
        chunks += 1
    assert digest.hexdigest() == hashlib.sha256(attachment_content(size)).hexdigest()
    assert chunks > 1


async def test_delay_seconds(aiohttp_client: MakeClient) -> None:
    client = await aiohttp_client(build_espo_app(EspoSandboxConfig(users=USERS, delay_seconds=0.2)))
    started = time.monotonic()
    assert (await send(client, "GET", "/api/v1/Lead")).status == 200
    assert time.monotonic() - started >= 0.2


async def test_received_requests_keep_the_raw_target(espo: Client) -> None:
    await send(espo, "GET", "/api/v1/Lead/(x)!*'?q=a%20b+c", auth=False)
    assert espo.app[ESPO_RECEIVED][-1].path_qs == "/api/v1/Lead/(x)!*'?q=a%20b+c"
