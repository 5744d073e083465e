"""The policy bypass cases (tests/security/test_policy_bypass*.py) replayed through nginx and Caddy in
decision mode: each gets the same answer as in proxy mode, and a refused one reaches no CRM.

A principal may only read Contact and Email. Reads are decided by the decision endpoint and carried by
the front proxy; the body-bearing cases take the proxy path behind the same front proxy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.integration.test_decision_support import (
    DECISION,
    FRONTENDS,
    Frontend,
    running_frontend,
    send,
)
from tests.support.stack import Stack, start_stack

ONLY_READS = """
policy: only-reads
subjects: {principals: [svc-test]}
entities:
  Contact: {get: allow, read: allow}
  Email: {get: allow, read: allow}
fields:
  Contact: {allow: [api_key]}
"""
"""No fields.<Entity>.deny: decision mode refuses such policies at load (proxy mode filters them out of
answers); the built-in api_key rule stays on for everything but Contact."""
V4 = "/civi-jwt/civicrm/ajax/api4"
AJAX = "/civi-jwt/civicrm/ajax/rest"
API = "/espo-key/api/v1"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
ON_CONTACT = ["c.contact_id", "=", "id"]


def q(value: Any) -> str:
    return quote(json.dumps(value), safe="")


@dataclass(frozen=True)
class Case:
    method: str
    target: str
    status: int
    reason: str | None = "policy-denied"
    body: bytes | None = None
    content_type: str | None = None
    header: tuple[str, str] | None = None


CASES: dict[str, Case] = {
    # CiviCRM: chains, joins, dotted names, encoded and ambiguous paths, PHP parameter tricks
    "v4-chain-to-delete": Case(
        "GET",
        f"{V4}/Contact/get?params={q({'chain': {'x': ['Contact', 'delete', {'where': [['id', '=', 2]]}]}})}",
        403,
    ),
    "v4-join-to-Contribution": Case(
        "GET",
        f"{V4}/Contact/get?params={q({'join': [['Contribution AS c', 'LEFT', ON_CONTACT]]})}",
        403,
    ),
    "v4-dotted-implicit-join": Case(
        "GET", f"{V4}/Email/get?params={q({'select': ['contact_id.employer_id.address_primary.city']})}", 403
    ),
    "v4-select-denied-field": Case("GET", f"{V4}/Email/get?params={q({'select': ['id', 'api_key']})}", 403),
    "v4-join-allowed-Email": Case(
        "GET", f"{V4}/Contact/get?params={q({'join': [['Email AS e', 'LEFT']]})}", 200, None
    ),
    "v3-chain-dotted-name-mangled-by-php": Case(
        "GET", f"{AJAX}?entity=Contact&action=get&json=1&api.Activity.get[sequential]=1", 403
    ),
    "v3-destructive-get": Case(
        "GET", f"{AJAX}?entity=Contact&action=delete&id=2&json=1", 400, "destructive-get"
    ),
    "percent-encoded-entity-%41ctivity": Case("GET", f"{V4}/%41ctivity/get", 403),
    "dot-dot-segment": Case("GET", f"{V4}/Contact/../User/get", 400, "ambiguous-path"),
    "encoded-slash": Case("GET", f"{V4}/Contact%2Fdelete/get", 400, "ambiguous-path"),
    "path-and-q-name-two-routes": Case(
        "GET", f"{V4}/Contact/get?q=civicrm/ajax/api4/Contact/delete", 400, "ambiguous-route"
    ),
    "amp;params-crm-18384": Case(
        "GET", f"{V4}/Contact/get?amp;params={q({'chain': {}})}", 400, "ambiguous-parameter"
    ),
    # EspoCRM: relationships, links in search conditions, system controllers, overrides
    "espo-relationship-account-contacts": Case("GET", f"{API}/Account/a1/contacts", 403),
    "espo-contact-account-link": Case("GET", f"{API}/Contact/c1/account", 403),
    "espo-where-on-account-attribute": Case(
        "GET",
        f"{API}/Contact?where[0][type]=equals&where[0][attribute]=account.name&where[0][value]=Acme",
        403,
    ),
    "espo-encoded-controller-%55ser": Case("GET", f"{API}/%55ser", 403),
    "espo-global-search": Case("GET", f"{API}/GlobalSearch?q=acme", 403),
    "espo-method-override-header": Case(
        "GET", f"{API}/Contact/c1", 400, "method-override", header=("X-HTTP-Method-Override", "DELETE")
    ),
    "espo-read-contacts-allowed": Case("GET", f"{API}/Contact?maxSize=1", 200, None),
    # bodies: proxy mode behind the front proxy
    "v4-batch-hiding-delete": Case(
        "POST",
        V4,
        403,
        body=(
            "calls="
            + q({"a": ["Contact", "get", {}], "b": ["Contact", "delete", {"where": [["id", "=", 2]]}]})
        ).encode(),
        content_type=FORM,
    ),
    "espo-mass-action-delete": Case(
        "POST",
        f"{API}/MassAction",
        403,
        body=json.dumps({"entityType": "Contact", "action": "delete", "params": {"ids": ["c1"]}}).encode(),
        content_type=JSON,
    ),
}


@pytest.fixture
async def stack(aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path) -> Stack:
    return await start_stack(
        aiohttp_server, aiohttp_client, tmp_path, policies={"only-reads": ONLY_READS}, extra=DECISION
    )


@pytest.fixture(params=FRONTENDS)
def front(request: pytest.FixtureRequest, stack: Stack) -> Iterator[Frontend]:
    with running_frontend(request.param, stack) as frontend:
        yield frontend


def headers_for(stack: Stack, case: Case) -> dict[str, str]:
    headers = stack.bearer()
    if case.content_type:
        headers["Content-Type"] = case.content_type
    if case.header:
        headers[case.header[0]] = case.header[1]
    return headers


async def test_decisions_match_proxy_mode(front: Frontend, stack: Stack) -> None:
    gateway = str(stack.client.make_url("")).rstrip("/")
    for name, case in CASES.items():
        headers = headers_for(stack, case)
        proxied = await send(gateway, case.method, case.target, headers, case.body)
        before = len(stack.received())
        answer = await front.request(case.method, case.target, headers, case.body)
        assert (answer.status, answer.reason) == (case.status, case.reason), (name, answer.body[:300])
        assert (proxied.status, proxied.reason) == (case.status, case.reason), (name, proxied.body[:300])
        if case.status >= 400:
            assert answer.body == proxied.body, name
            assert len(stack.received()) == before, f"{name}: a refused request reached the CRM"
        else:
            assert len(stack.received()) == before + 1, name
