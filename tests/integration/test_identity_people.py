"""Staff act as themselves on CiviCRM: contact ids from a claim or looked up through the CRM.

Over real sockets: token -> gateway -> sandbox CiviCRM, which checks each minted AuthX JWT and records
the contact each call ran as (``CIVI_CALLS``), so two people are proven to act as two contacts.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gateway.sandbox.civicrm import CIVI_CALLS
from gateway.secrets import Secret
from tests.support.people import (
    ADA,
    ALAN,
    GRACE,
    LOOKUP_CONTACT,
    STAFF_POLICY,
    SVC_POLICY,
    people_civi_config,
    people_espo_config,
)
from tests.support.stack import Stack, start_stack

RULES = """
  - match: {roles: staff}
    civi-jwt: {contact_id: {claim: civicrm_contact_id}}
    civi-jwt-header: {contact_id: {lookup: {by: email, claim: email}}}
    civi-jwt-param: {contact_id: {lookup: {by: external_identifier, claim: employee_id}}}
    civi-apikey-param: {api_key: '${env:CIVI_API_KEY}'}
  - match: {roles: staff}
    civi-jwt: {contact_id: 42}
    civi-jwt-header: {contact_id: 42}
    civi-jwt-param: {contact_id: 42}
  - match: {roles: contractor}
    unresolved: next
    civi-jwt-header: {contact_id: {lookup: {by: uf_name, claim: preferred_username}}}
    civi-jwt-param: {contact_id: {lookup: {by: uf_name, claim: preferred_username}}}
  - match: {roles: contractor}
    civi-jwt-header: {contact_id: 2}
    civi-jwt-param: {contact_id: 2}
"""
LOOKUPS = """
lookups:
  civi-jwt-header: {identity: {contact_id: 5}, ttl_seconds: 60, negative_ttl_seconds: 10}
  civi-jwt-param: {identity: {contact_id: 999}}  # no such contact: every look-up is refused by CiviCRM
"""
GET = '/civicrm/ajax/api4/Contact/get?params={"select":["display_name"]}'
ESCAPED_GET = "/civicrm/ajax/api4/Contact/get?params=%7B%22select%22:%5B%22display_name%22%5D%7D"
DELETE = "/civicrm/ajax/api4/Contact/delete"


@pytest.fixture
async def stack(aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path) -> Stack:
    return await start_stack(
        aiohttp_server,
        aiohttp_client,
        tmp_path,
        policies={
            "staff": STAFF_POLICY.replace("roles: [staff]", "roles: [staff, contractor]"),
            "svc": SVC_POLICY,
        },
        civi_config=people_civi_config(),
        espo_config=people_espo_config(),
        identities_extra=RULES,
        extra=LOOKUPS,
    )


def acted(stack: Stack) -> list[int]:
    """Contacts the sandbox ran client calls as (the look-up service contact left out)."""
    return [int(c.acted_as) for c in stack.civi.app[CIVI_CALLS] if c.acted_as != str(LOOKUP_CONTACT)]


def lookups(stack: Stack) -> list[str]:
    return [c.path for c in stack.civi.app[CIVI_CALLS] if c.acted_as == str(LOOKUP_CONTACT)]


async def call(stack: Stack, upstream: str, path: str = ESCAPED_GET, **claims: Any) -> Any:
    headers = stack.bearer("staff-app", roles=claims.pop("roles", ["staff"]), **claims)
    return await stack.client.get(f"/{upstream}{path}", headers=headers)


async def test_two_people_with_different_tokens_act_as_two_contacts(stack: Stack) -> None:
    first = await call(stack, "civi-jwt", civicrm_contact_id=ADA)
    second = await call(stack, "civi-jwt", civicrm_contact_id=str(GRACE))
    assert (first.status, second.status) == (200, 200)
    assert acted(stack) == [ADA, GRACE]
    assert [r.headers["X-Sandbox-Cred-Type"] for r in (first, second)] == ["jwt", "jwt"]


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({}, id="no-claim"),
        pytest.param({"civicrm_contact_id": None}, id="null"),
        pytest.param({"civicrm_contact_id": 0}, id="zero"),
        pytest.param({"civicrm_contact_id": -7}, id="negative"),
        pytest.param({"civicrm_contact_id": "7 "}, id="blank"),
        pytest.param({"civicrm_contact_id": "7;8"}, id="two"),
        pytest.param({"civicrm_contact_id": True}, id="boolean"),
        pytest.param({"civicrm_contact_id": [7]}, id="list"),
        pytest.param({"civicrm_contact_id": 4294967296}, id="too-large"),
    ],
)
async def test_a_token_without_a_usable_claim_is_refused_and_never_shared(
    stack: Stack, claims: dict[str, Any]
) -> None:
    resp = await call(stack, "civi-jwt", **claims)
    body = await resp.json()
    assert resp.status == 403
    assert body["error_code"] == "no-identity"
    assert "civicrm_contact_id" in body["error_message"]
    assert acted(stack) == []  # not the shared contact 42 of the next rule either


async def test_looked_up_by_email_and_cached(stack: Stack) -> None:
    for _ in range(4):
        resp = await call(stack, "civi-jwt-header", email="ada@example.org")
        assert resp.status == 200
    assert acted(stack) == [ADA] * 4
    assert lookups(stack) == ["/civicrm/ajax/api4/Email/get"]
    assert stack.metric("crmgw_identity_lookups_total", upstream="civi-jwt-header", outcome="found") == 1


async def test_concurrent_look_ups_of_one_person_are_coalesced(stack: Stack) -> None:
    stack.set_civi_delay(0.05)  # the look-up is still running when the other five arrive
    results = await asyncio.gather(
        *(call(stack, "civi-jwt-header", email="grace@example.org") for _ in range(6))
    )
    assert [r.status for r in results] == [200] * 6
    assert lookups(stack) == ["/civicrm/ajax/api4/Email/get"]
    assert acted(stack) == [GRACE] * 6


async def test_the_cache_refreshes_after_its_ttl(stack: Stack) -> None:
    now = [1000.0]
    cache = stack.runtime.people.caches["civi-jwt-header"]
    cache.clock = lambda: now[0]
    assert (await call(stack, "civi-jwt-header", email="ada@example.org")).status == 200
    now[0] += 59
    assert (await call(stack, "civi-jwt-header", email="ada@example.org")).status == 200
    assert len(lookups(stack)) == 1
    now[0] += 2  # past ttl_seconds: 60
    assert (await call(stack, "civi-jwt-header", email="ada@example.org")).status == 200
    assert len(lookups(stack)) == 2


@pytest.mark.parametrize(
    ("email", "message", "outcome"),
    [
        pytest.param("nobody@example.org", "no one on the CRM matches", "none", id="none"),
        pytest.param("shared@example.org", "several records on the CRM match", "several", id="two-contacts"),
    ],
)
async def test_zero_or_two_matches_are_refused_not_guessed(
    stack: Stack, email: str, message: str, outcome: str
) -> None:
    resp = await call(stack, "civi-jwt-header", email=email)
    body = await resp.json()
    assert resp.status == 403
    assert body["error_code"] == "no-identity"
    assert message in body["error_message"]
    assert acted(stack) == []  # and never the next rule's shared contact 42
    assert len(lookups(stack)) == 1
    again = await call(stack, "civi-jwt-header", email=email)
    assert again.status == 403
    assert len(lookups(stack)) == 1  # the negative answer is cached too
    assert stack.metric("crmgw_identity_lookups_total", upstream="civi-jwt-header", outcome=outcome) == 1


async def test_look_up_by_external_identifier(stack: Stack) -> None:
    stack.runtime.people.configs["civi-jwt-param"] = replace(
        stack.runtime.people.configs["civi-jwt-param"], identity={"contact_id": Secret(str(LOOKUP_CONTACT))}
    )
    resp = await call(stack, "civi-jwt-param", employee_id="EMP-8")
    assert resp.status == 200
    assert acted(stack) == [GRACE]
    assert lookups(stack) == ["/civicrm/ajax/api4/Contact/get"]


@pytest.mark.parametrize("roles", [["staff"], ["contractor"]])
async def test_a_crm_that_cannot_answer_is_a_503_and_never_falls_through(
    stack: Stack, roles: list[str]
) -> None:
    """The service identity is refused (HTTP 401 at CiviCRM): no guess, not even with ``unresolved: next``."""
    resp = await call(stack, "civi-jwt-param", roles=roles, employee_id="EMP-8", preferred_username="ada")
    body = await resp.json()
    assert resp.status == 503
    assert body["error_code"] == "identity-lookup-failed"
    assert acted(stack) == []
    assert stack.metric("crmgw_identity_lookups_total", upstream="civi-jwt-param", outcome="error") == 1
    assert stack.civi_received[-1].path_qs.endswith(("/Contact/get", "/UFMatch/get"))


async def test_no_look_up_for_a_token_refused_by_policy_or_authentication(stack: Stack) -> None:
    denied = await stack.client.post(
        f"/civi-jwt-header{DELETE}",
        data={"params": json.dumps({"where": [["id", "=", ADA]]})},
        headers=stack.bearer("staff-app", roles=["staff"], email="ada@example.org"),
    )
    assert denied.status == 403
    assert (await denied.json())["error_code"] == "policy-denied"
    expired = await stack.client.get(
        f"/civi-jwt-header{ESCAPED_GET}",
        headers=stack.bearer("staff-app", roles=["staff"], email="ada@example.org", exp=1, iat=0, nbf=0),
    )
    assert expired.status == 401
    assert lookups(stack) == []
    assert stack.civi.app[CIVI_CALLS] == []


async def test_fall_through_to_the_next_rule_only_where_the_rule_says_so(stack: Stack) -> None:
    found = await call(stack, "civi-jwt-header", roles=["contractor"], preferred_username="ada")
    missing = await call(stack, "civi-jwt-header", roles=["contractor"], preferred_username="nobody")
    assert (found.status, missing.status) == (200, 200)
    assert acted(stack) == [ADA, 2]  # unresolved: next -> the second contractor rule


async def test_the_access_log_names_the_principal_and_the_contact(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    await call(stack, "civi-jwt", civicrm_contact_id=ADA)
    await call(stack, "civi-jwt-header", email="grace@example.org")
    await call(stack, "civi-jwt")
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    seen = [(x["principal"], x["upstream"], x["acting_as"], x["status"]) for x in lines]
    assert seen == [
        ("staff-app", "civi-jwt", f"contact_id={ADA}", 200),
        ("staff-app", "civi-jwt-header", f"contact_id={GRACE}", 200),
        ("staff-app", "civi-jwt", None, 403),
    ]


async def test_the_rate_limit_keys_on_the_person(stack: Stack) -> None:
    """One principal (one app) for everyone; ``per: person`` gives each contact its own bucket."""
    statuses = [(await call(stack, "civi-jwt", civicrm_contact_id=ADA)).status for _ in range(9)]
    assert statuses == [200] * 8 + [429]
    assert (await call(stack, "civi-jwt", civicrm_contact_id=ALAN)).status == 200
