"""The sandbox EspoCRM's ``X-Another-User``, decided as espocrm ``Authentication::getLoggedUser`` does:
an empty (PHP-false) header is no request at all; the site flag ``authAnotherUserDisabled`` refuses every
request; only an admin may ask; the named user must exist and be regular (not admin, API or portal)."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.sandbox.espocrm import ESPO_CALLS, EspoSandboxConfig, EspoUser, build_espo_app

Client = TestClient[web.Request, web.Application]
USERS = [
    EspoUser("u-admin", "admin", "Password", password="admin-pass", is_admin=True),
    EspoUser("u-admin2", "admin2", "Password", password="admin2-pass", is_admin=True),
    EspoUser("u-jane", "jane", "Password", password="jane-pass", token="tok-jane"),
    EspoUser("u-joe", "joe", "Password", password="joe-pass"),
    EspoUser("u-portal", "portal", "Password", password="portal-pass", is_portal=True),
    EspoUser("u-api", "api", "ApiKey", api_key="k-api-0001"),
]


def espo_auth(user: str, password: str) -> dict[str, str]:
    return {"Espo-Authorization": base64.b64encode(f"{user}:{password}".encode()).decode()}


async def client(make: Callable[..., Awaitable[Client]], disabled: bool = False) -> Client:
    config = EspoSandboxConfig(users=USERS, max_failed_logins=100, another_user_disabled=disabled)
    return await make(build_espo_app(config))


@pytest.mark.parametrize(
    ("credential", "another", "status", "runs_as"),
    [
        (espo_auth("admin", "admin-pass"), "jane", 200, "jane"),
        (espo_auth("admin", "admin-pass"), "joe", 200, "joe"),
        (espo_auth("admin", "admin-pass"), "", 200, "admin"),
        (espo_auth("admin", "admin-pass"), "0", 200, "admin"),
        (espo_auth("admin", "admin-pass"), "admin2", 401, None),
        (espo_auth("admin", "admin-pass"), "portal", 401, None),
        (espo_auth("admin", "admin-pass"), "api", 401, None),
        (espo_auth("admin", "admin-pass"), "nobody", 401, None),
        (espo_auth("jane", "jane-pass"), "joe", 401, None),
        ({"X-Api-Key": "k-api-0001"}, "jane", 401, None),
    ],
)
async def test_who_may_act_as_whom(
    aiohttp_client: Any, credential: dict[str, str], another: str, status: int, runs_as: str | None
) -> None:
    espo = await client(aiohttp_client)
    response = await espo.get("/api/v1/App/user", headers={**credential, "X-Another-User": another})
    assert response.status == status
    calls = espo.app[ESPO_CALLS]
    assert [c.acted_as for c in calls] == ([runs_as] if runs_as else [])
    if runs_as:
        assert (await response.json())["user"]["userName"] == runs_as


async def test_the_site_flag_refuses_every_other_user(aiohttp_client: Any) -> None:
    espo = await client(aiohttp_client, disabled=True)
    admin = espo_auth("admin", "admin-pass")
    refused = await espo.get("/api/v1/App/user", headers={**admin, "X-Another-User": "jane"})
    plain = await espo.get("/api/v1/App/user", headers=admin)
    assert (refused.status, plain.status) == (401, 200)
    assert [(c.acted_as, c.logged_in_as) for c in espo.app[ESPO_CALLS]] == [("admin", "admin")]
