"""EspoCRM policy bypass suite, end to end: a principal allowed only to read Contact and Email.

Relationships, search conditions on linked records, cross-entity routes (``MassAction``, ``Export``,
``Action``), system controllers, method overrides, path tricks and body tricks: every request below must
be refused by the gateway and the sandbox EspoCRM must receive nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import ClientResponse
from yarl import URL

from gateway.dialects.espocrm.params import php_key
from tests.support.stack import ESPO_SCHEMES, Stack, start_stack

ONLY_READS_ESPO = f"""
policy: only-reads-espo
subjects: {{principals: [svc-test]}}
upstreams: [{", ".join([*ESPO_SCHEMES, "espo-by-host"])}]
entities:
  Contact: {{read: allow}}
  Email: {{read: allow}}
"""

API = "/espo-key/api/v1"
JSON_TYPE = "application/json"


@dataclass(frozen=True)
class Probe:
    method: str
    target: str
    """Upstream prefix, path and query exactly as sent (already percent-encoded)."""
    body: Any = None
    """JSON-encoded when not bytes."""
    headers: Mapping[str, str] = field(default_factory=dict)
    status: int = 403
    reason: str = "policy-denied"


def q(value: Any) -> str:
    return quote(value if isinstance(value, str) else json.dumps(value), safe="")


def post(target: str, body: Any, **kw: Any) -> Probe:
    return Probe("POST", target, body, **kw)


ACCOUNT_WHERE = [{"type": "equals", "attribute": "account.name", "value": "Acme"}]
BAD_PATH: dict[str, Any] = {"status": 400, "reason": "ambiguous-path"}
OVERRIDE: dict[str, Any] = {"status": 400, "reason": "method-override"}

PROBES: dict[str, Probe] = {
    # -- records the principal may not touch ----------------------------------------------------------
    "delete-contact": Probe("DELETE", f"{API}/Contact/c1"),
    "update-contact-put": Probe("PUT", f"{API}/Contact/c1", {"title": "x"}),
    "update-contact-patch": Probe("PATCH", f"{API}/Contact/c1", {"title": "x"}),
    "create-contact": post(f"{API}/Contact", {"lastName": "x"}),
    "list-account": Probe("GET", f"{API}/Account"),
    "head-account": Probe("HEAD", f"{API}/Account"),
    "read-user": Probe("GET", f"{API}/User/u1"),
    "lower-case-controller-delete": Probe("DELETE", f"{API}/contact/c1"),
    "encoded-controller-%55ser": Probe("GET", f"{API}/%55ser"),
    # -- relationships ------------------------------------------------------------------------------
    "account-contacts-without-account-right": Probe("GET", f"{API}/Account/a1/contacts"),
    "contact-account-link": Probe("GET", f"{API}/Contact/c1/account"),
    "contact-opportunities-link": Probe("GET", f"{API}/Contact/c1/opportunities"),
    "contact-portal-user-link": Probe("GET", f"{API}/Contact/c1/portalUser"),
    "email-users-link": Probe("GET", f"{API}/Email/e1/users"),
    "unknown-link-is-opaque": Probe("GET", f"{API}/Contact/c1/secretThings"),
    "relate-contact-to-account": post(f"{API}/Contact/c1/accounts", {"id": "a1"}),
    "unrelate-contact-from-account": Probe("DELETE", f"{API}/Contact/c1/accounts", {"id": "a1"}),
    "linked-emails-filtered-by-account": Probe(
        "GET", f"{API}/Contact/c1/emails?where[0][type]=isNotNull&where[0][attribute]=account.name"
    ),
    # -- search conditions through links ------------------------------------------------------------
    "where-on-account-attribute": Probe(
        "GET", f"{API}/Contact?where[0][type]=equals&where[0][attribute]=account.name&where[0][value]=Acme"
    ),
    "nested-where-on-account-attribute": Probe(
        "GET",
        f"{API}/Contact?where[0][type]=or&where[0][value][0][type]=isNotNull"
        "&where[0][value][0][attribute]=account.id",
    ),
    "searchParams-where-on-account": Probe(
        "GET", f"{API}/Contact?searchParams={q({'where': ACCOUNT_WHERE})}"
    ),
    "select-account-attribute": Probe("GET", f"{API}/Contact?select=name,account.name"),
    "orderBy-account-attribute": Probe("GET", f"{API}/Contact?orderBy=account.name"),
    "where-key-with-leading-space-php-strips": Probe(
        "GET", f"{API}/Contact?%20where[0][type]=isNotNull&%20where[0][attribute]=account.name"
    ),
    "searchParams-key-with-leading-space": Probe(
        "GET", f"{API}/Contact?%20searchParams={q({'where': ACCOUNT_WHERE})}"
    ),
    "where-key-with-nul-php-truncates": Probe(
        "GET",
        f"{API}/Contact?where%00x[0][type]=isNotNull&where[0][attribute%00x]=account.name",
        status=400,
        reason="bad-where",
    ),
    "select-as-php-array": Probe(
        "GET", f"{API}/Contact?select[]=account.name", status=400, reason="ambiguous-parameter"
    ),
    "searchParams-as-php-array": Probe(
        "GET",
        f"{API}/Contact?searchParams[where][0][type]=isNotNull&searchParams[where][0][attribute]=account.id",
        status=400,
        reason="ambiguous-parameter",
    ),
    "kanban-of-account": Probe("GET", f"{API}/Kanban/Account"),
    # -- routes that carry the entity in the body -------------------------------------------------
    "mass-action-delete-contacts": post(
        f"{API}/MassAction", {"entityType": "Contact", "action": "delete", "params": {"ids": ["c1"]}}
    ),
    "mass-action-update-contacts": post(
        f"{API}/MassAction",
        {"entityType": "Contact", "action": "update", "params": {"ids": ["c1"]}, "data": {"title": "x"}},
    ),
    "mass-action-lower-case-entity": post(
        f"{API}/MassAction", {"entityType": "contact", "action": "delete", "params": {"ids": ["c1"]}}
    ),
    "mass-action-without-entity": post(
        f"{API}/MassAction", {"action": "delete"}, status=400, reason="bad-body"
    ),
    "_method-query-param-with-leading-space": Probe("GET", f"{API}/Contact/c1?%20_method=DELETE", **OVERRIDE),
    "export-contacts": post(f"{API}/Export", {"entityType": "Contact", "ids": ["c1"]}),
    "action-route-delete": post(f"{API}/Action", {"entityType": "Contact", "action": "delete", "id": "c1"}),
    "entity-action-delete": post(f"{API}/Contact/action/delete", {"id": "c1"}),
    "entity-action-mass-update": post(f"{API}/Contact/action/massUpdate", {"ids": ["c1"]}),
    "lead-convert-creates-contact": post(f"{API}/Lead/action/convert", {"id": "l1", "records": {}}),
    "duplicate-json-key-entityType": Probe(
        "POST",
        f"{API}/MassAction",
        b'{"entityType": "Contact", "entityType": "Account", "action": "read"}',
        status=400,
        reason="bad-json",
    ),
    "mass-action-body-as-form": Probe(
        "POST",
        f"{API}/MassAction",
        b"entityType=Contact&action=delete",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        status=400,
        reason="bad-content-type",
    ),
    "mass-action-two-content-types": Probe(
        "POST",
        f"{API}/MassAction",
        {"entityType": "Contact", "action": "delete"},
        headers={"Content-Type": f"{JSON_TYPE}, text/plain"},
        status=400,
        reason="bad-content-type",
    ),
    # -- system controllers and non-entity routes ------------------------------------------------------
    "global-search": Probe("GET", f"{API}/GlobalSearch?q=acme"),
    "app-user": Probe("GET", f"{API}/App/user"),
    "metadata": Probe("GET", f"{API}/Metadata"),
    "activities-of-contact": Probe("GET", f"{API}/Activities/Contact/c1/meetings"),
    "stream-of-contact": Probe("GET", f"{API}/Contact/c1/stream"),
    "followers-of-contact": Probe("GET", f"{API}/Contact/c1/followers"),
    "subscribe-to-contact": Probe("PUT", f"{API}/Contact/c1/subscription"),
    "attachment-file": Probe("GET", f"{API}/Attachment/file/f1"),
    "portal-api-is-opaque": Probe("GET", f"{API}/portal-access/p1/Contact"),
    "outside-the-api": Probe("GET", "/espo-key/?entryPoint=download&id=f1"),
    # -- method overrides ---------------------------------------------------------------------------
    "x-http-method-override": Probe(
        "GET", f"{API}/Contact/c1", headers={"X-HTTP-Method-Override": "DELETE"}, **OVERRIDE
    ),
    "x-http-method": Probe("GET", f"{API}/Contact/c1", headers={"X-HTTP-Method": "DELETE"}, **OVERRIDE),
    "x-method-override": Probe(
        "GET", f"{API}/Contact/c1", headers={"X-Method-Override": "DELETE"}, **OVERRIDE
    ),
    "_method-query-param": Probe("GET", f"{API}/Contact/c1?_method=DELETE", **OVERRIDE),
    "_METHOD-query-param": Probe("GET", f"{API}/Contact/c1?_METHOD=DELETE", **OVERRIDE),
    # -- paths --------------------------------------------------------------------------------------
    "dot-dot-Contact/../User": Probe("GET", f"{API}/Contact/../User", **BAD_PATH),
    "encoded-dot-dot": Probe("GET", f"{API}/Contact/%2e%2e/User", **BAD_PATH),
    "encoded-slash": Probe("GET", f"{API}/Contact%2Fc1", **BAD_PATH),
    "double-encoded": Probe("GET", f"{API}/Us%2565r", **BAD_PATH),
    "empty-segment": Probe("GET", f"{API}//User", **BAD_PATH),
    "explicit-index.php": Probe("GET", f"{API}/index.php/User", **BAD_PATH),
}


@pytest.fixture
async def stack(aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path) -> Stack:
    return await start_stack(
        aiohttp_server, aiohttp_client, tmp_path, policies={"only-reads-espo": ONLY_READS_ESPO}
    )


async def send(stack: Stack, probe: Probe) -> ClientResponse:
    """Sends the target byte for byte: no client-side normalisation of dots or percent escapes."""
    root = str(stack.client.make_url("")).rstrip("/")
    headers = {**stack.bearer(), **probe.headers}
    data: bytes | None = None
    if probe.body is not None:
        data = probe.body if isinstance(probe.body, bytes) else json.dumps(probe.body).encode()
        headers.setdefault("Content-Type", JSON_TYPE)
    url = URL(root + probe.target, encoded=True)
    return await stack.client.session.request(probe.method, url, data=data, headers=headers)


def test_the_suite_is_big_enough() -> None:
    assert len(PROBES) >= 40


@pytest.mark.parametrize("probe", [pytest.param(p, id=name) for name, p in PROBES.items()])
async def test_refused_and_nothing_reaches_espocrm(stack: Stack, probe: Probe) -> None:
    resp = await send(stack, probe)
    body = await resp.text()
    assert resp.status == probe.status, body
    if probe.method != "HEAD":
        assert json.loads(body)["reason"] == probe.reason, body
    assert resp.headers["X-Status-Reason"]
    assert stack.received() == []


async def test_the_same_requests_pass_for_a_principal_allowed_everything(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    """The refusals above come from the policy, not from the route: with an allow-all policy the
    relationship read that was refused reaches the sandbox."""
    stack = await start_stack(aiohttp_server, aiohttp_client, tmp_path)
    resp = await send(stack, PROBES["account-contacts-without-account-right"])
    assert resp.status != 403, await resp.text()
    assert len(stack.espo_received) == 1


@pytest.mark.parametrize(
    ("raw", "php"),
    [(" where[0][attribute]", "where[0][attribute]"), ("where\x00x[0]", "where"), ("  _method", "_method")],
)
def test_query_names_are_read_as_php_registers_them(raw: str, php: str) -> None:
    assert php_key(raw) == php
