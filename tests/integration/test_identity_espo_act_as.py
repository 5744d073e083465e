"""EspoCRM: an admin credential acting as each person through ``X-Another-User``, end to end.

The sandbox EspoCRM decides as ``Authentication::getLoggedUser`` does (site flag, admin only, regular
target) and records the user each call ran as, so two tokens are proven to act as two users.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.sandbox.espocrm import ESPO_CALLS
from tests.support.people import ESPO_ADMIN, ESPO_ADMIN_PASSWORD, STAFF_POLICY, SVC_POLICY, people_espo_config
from tests.support.stack import Stack, start_stack

RULES = f"""
  - match: {{roles: staff, via: email}}
    espo-basic:
      username: {ESPO_ADMIN}
      password: '${{env:ESPO_ADMIN_PASSWORD}}'
      act_as: {{lookup: {{by: email, claim: email}}}}
  - match: {{roles: staff}}
    espo-basic:
      username: {ESPO_ADMIN}
      password: '${{env:ESPO_ADMIN_PASSWORD}}'
      act_as: {{claim: preferred_username}}
"""
LOOKUPS = f"""
lookups:
  espo-basic: {{identity: {{username: {ESPO_ADMIN}, password: '${{env:ESPO_ADMIN_PASSWORD}}'}}}}
"""
LEADS = "/api/v1/Lead?maxSize=5"


async def espo_stack(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, *, disabled: bool = False
) -> Stack:
    return await start_stack(
        aiohttp_server,
        aiohttp_client,
        tmp_path,
        policies={"staff": STAFF_POLICY, "svc": SVC_POLICY},
        espo_config=people_espo_config(another_user_disabled=disabled),
        identities_extra=RULES,
        extra=LOOKUPS,
        environ={"ESPO_ADMIN_PASSWORD": ESPO_ADMIN_PASSWORD},
    )


@pytest.fixture
async def stack(aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path) -> Stack:
    return await espo_stack(aiohttp_server, aiohttp_client, tmp_path)


async def get(stack: Stack, user: Any, **headers: str) -> Any:
    auth = stack.bearer("staff-app", roles=["staff"], preferred_username=user)
    return await stack.client.get(f"/espo-basic{LEADS}", headers={**auth, **headers})


async def test_two_tokens_act_as_two_espo_users(stack: Stack) -> None:
    assert (await get(stack, "ada")).status == 200
    assert (await get(stack, "grace")).status == 200
    calls = [(c.acted_as, c.logged_in_as) for c in stack.espo.app[ESPO_CALLS]]
    assert calls == [("ada", ESPO_ADMIN), ("grace", ESPO_ADMIN)]
    assert stack.espo_received[-1].headers["X-Another-User"] == "grace"


async def test_a_clients_own_x_another_user_is_stripped(stack: Stack) -> None:
    resp = await stack.client.get(
        f"/espo-basic{LEADS}", headers={**stack.bearer(), "X-Another-User": "ada"}
    )  # svc-test's own identity: plain espo_basic, no act_as
    assert resp.status == 200
    assert "X-Another-User" not in stack.espo_received[-1].headers
    assert [c.acted_as for c in stack.espo.app[ESPO_CALLS]] == ["espo_basic"]


@pytest.mark.parametrize(
    "user",
    [
        pytest.param(None, id="no-claim"),
        pytest.param("", id="empty"),
        pytest.param("Ada", id="upper-case"),
        pytest.param("ada\r\nX-Api-Key: x", id="header-injection"),
        pytest.param(7, id="number"),
    ],
)
async def test_an_unusable_user_name_claim_is_refused(stack: Stack, user: Any) -> None:
    resp = await get(stack, user)
    assert resp.status == 403
    assert resp.headers["X-Status-Reason"].startswith("the token")
    assert stack.espo_received == []


@pytest.mark.parametrize("user", ["boss", "portal", "api_user", "nobody"])
async def test_the_server_refuses_targets_that_are_not_regular_users(stack: Stack, user: str) -> None:
    """An admin, portal or API user, or no such user: EspoCRM answers 401 (and so does the gateway)."""
    resp = await get(stack, user)
    assert resp.status == 401
    assert stack.espo.app[ESPO_CALLS] == []


async def test_a_site_that_disables_acting_as_another_user_refuses_it(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    stack = await espo_stack(aiohttp_server, aiohttp_client, tmp_path, disabled=True)
    resp = await get(stack, "ada")
    assert resp.status == 401
    assert stack.espo.app[ESPO_CALLS] == []


def lookups(stack: Stack) -> list[str]:
    return [c.path for c in stack.espo.app[ESPO_CALLS] if c.path == "/User"]


async def test_the_user_name_looked_up_by_email_once(stack: Stack) -> None:
    auth = stack.bearer("staff-app", roles=["staff"], via="email", email="ada@example.org")
    for _ in range(3):
        assert (await stack.client.get(f"/espo-basic{LEADS}", headers=auth)).status == 200
    calls = [(c.acted_as, c.path) for c in stack.espo.app[ESPO_CALLS]]
    assert calls == [(ESPO_ADMIN, "/User"), ("ada", "/Lead"), ("ada", "/Lead"), ("ada", "/Lead")]
    assert "X-Another-User" not in stack.espo_received[0].headers  # the look-up acts as itself


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("nobody@example.org", "no one on the CRM matches"),
        ("grace@example.org", "several records on the CRM match"),
        ("boss@example.org", "no one on the CRM matches"),  # an admin is never a target
    ],
)
async def test_zero_or_two_users_are_refused(stack: Stack, email: str, message: str) -> None:
    auth = stack.bearer("staff-app", roles=["staff"], via="email", email=email)
    resp = await stack.client.get(f"/espo-basic{LEADS}", headers=auth)
    assert resp.status == 403
    assert message in resp.headers["X-Status-Reason"]
    assert lookups(stack) == ["/User"]
    assert [c.path for c in stack.espo.app[ESPO_CALLS]] == ["/User"]
