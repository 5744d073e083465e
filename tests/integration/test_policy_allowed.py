"""No over-blocking: what a principal allowed only to read Contact and Email may do still reaches the CRM.

The same restricted policies as the bypass suites (tests/security/test_policy_bypass*.py). Every request
here reads only Contact and Email, through every shape the gateway understands; each must be forwarded,
answered by the sandbox as the mapped CRM user, and answered without an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import pytest
from aiohttp import ClientResponse
from yarl import URL

from tests.support.stack import ESPO_SCHEMES, Stack, start_stack

ONLY_READS = """
policy: only-reads
subjects: {principals: [svc-test]}
upstreams: [civi-keys, civi-jwt]
entities:
  Contact: {get: allow}
  Email: {get: allow}
"""
ONLY_READS_ESPO = f"""
policy: only-reads-espo
subjects: {{principals: [svc-test]}}
upstreams: [{", ".join(ESPO_SCHEMES)}]
entities:
  Contact: {{read: allow}}
  Email: {{read: allow}}
"""

V4 = "/civi-jwt/civicrm/ajax/api4"
AJAX = "/civi-jwt/civicrm/ajax/rest"
REST_PHP = "/civi-keys/sites/all/modules/civicrm/extern/rest.php"
WP_REST = "/civi-keys/wp-json/civicrm/v3/rest"
FORM = "application/x-www-form-urlencoded"
ESPO = "/espo-key/api/v1"


@dataclass(frozen=True)
class Allowed:
    method: str
    target: str
    body: bytes | None = None
    content_type: str | None = None


def q(value: Any) -> str:
    return quote(json.dumps(value), safe="")


def v4(entity: str, action: str, params: Any) -> Allowed:
    return Allowed(
        "POST", f"{V4}/{entity}/{action}", urlencode({"params": json.dumps(params)}).encode(), FORM
    )


def v3(target: str = AJAX, **pairs: Any) -> Allowed:
    data = {"json": "1", **{k: v if isinstance(v, str) else json.dumps(v) for k, v in pairs.items()}}
    return Allowed("POST", target, urlencode(data).encode(), FORM)


def multipart(target: str, fields: dict[str, str]) -> Allowed:
    writer = aiohttp.MultipartWriter("form-data", boundary="b0undary")
    for name, value in fields.items():
        part = writer.append(value)
        part.set_content_disposition("form-data", name=name)
    body = b"".join(
        [b"--b0undary\r\n"]
        + [
            f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n--b0undary'.encode()
            + (b"--\r\n" if i == len(fields) - 1 else b"\r\n")
            for i, (name, value) in enumerate(fields.items())
        ]
    )
    return Allowed("POST", target, body, "multipart/form-data; boundary=b0undary")


CIVI_ALLOWED: dict[str, Allowed] = {
    "v4-get-post-form": v4("Contact", "get", {"select": ["display_name"], "where": [["id", "=", 42]]}),
    "v4-get-query": Allowed("GET", f"{V4}/Contact/get?params={q({'select': ['display_name']})}"),
    "v4-get-no-params": Allowed("GET", f"{V4}/Contact/get"),
    "v4-get-percent-encoded-entity": Allowed("GET", f"{V4}/%43ontact/get"),
    "v4-get-action-case": v4("Contact", "GET", {}),
    "v4-email-dotted-join-to-contact": v4("Email", "get", {"select": ["email", "contact_id.display_name"]}),
    "v4-email-where-through-contact": v4(
        "Email", "get", {"where": [["contact_id.display_name", "=", "Admin"]]}
    ),
    "v4-email-explicit-join-contact": v4(
        "Email",
        "get",
        {"select": ["c.display_name"], "join": [["Contact AS c", "LEFT", ["c.id", "=", "contact_id"]]]},
    ),
    "v4-contact-chain-emails": v4(
        "Contact", "get", {"chain": {"emails": ["Email", "get", {"where": [["contact_id", "=", "$id"]]}]}}
    ),
    "v4-contact-or-clause": v4(
        "Contact", "get", {"where": [["OR", [["id", "=", 2], ["display_name", "=", "Integration"]]]]}
    ),
    "v4-contact-order-and-limit": v4("Contact", "get", {"orderBy": {"display_name": "DESC"}, "limit": 1}),
    "v4-batch-contact-and-email": Allowed(
        "POST",
        V4,
        urlencode({"calls": json.dumps({"c": ["Contact", "get", {}], "e": ["Email", "get", {}]})}).encode(),
        FORM,
    ),
    "v4-multipart-form": multipart(f"{V4}/Contact/get", {"params": json.dumps({"select": ["display_name"]})}),
    "v4-drupal-q-route": Allowed("GET", f"/civi-jwt/?q=civicrm/ajax/api4/Contact/get&params={q({})}"),
    "v4-form-content-type-with-charset": Allowed(
        "POST", f"{V4}/Contact/get", urlencode({"params": "{}"}).encode(), f"{FORM}; charset=UTF-8"
    ),
    "v3-ajax-get": v3(entity="Contact", action="get"),
    "v3-ajax-get-query": Allowed("GET", f"{AJAX}?entity=Contact&action=get&json=1"),
    "v3-getsingle": v3(entity="Contact", action="getsingle", id="42"),
    "v3-getcount": v3(entity="Contact", action="getcount"),
    "v3-entity-lower-case": v3(entity="contact", action="get"),
    "v3-entity-underscored": v3(entity="con_tact", action="get"),
    "v3-action-upper-case": v3(entity="Email", action="GET"),
    "v3-chain-email-get": v3(entity="Contact", action="get", api_Email_get="1"),
    "v3-json-chain-email-get": Allowed(
        "POST",
        AJAX,
        urlencode({"entity": "Contact", "action": "get", "json": json.dumps({"api.Email.get": {}})}).encode(),
        FORM,
    ),
    "v3-api3-batch": v3(
        entity="api3", action="call", json={"c": ["Contact", "get", {}], "e": ["Email", "get"]}
    ),
    "v3-return-fields": v3(entity="Contact", action="get", **{"return": "display_name,id"}),
    "rest.php-get": Allowed("GET", f"{REST_PHP}?entity=Contact&action=get&json=1"),
    "rest.php-legacy-q": Allowed("GET", f"{REST_PHP}?q=civicrm/contact/get&json=1"),
    "wp-rest-get": Allowed("GET", f"{WP_REST}?entity=Contact&action=get&json=1"),
    "wp-rest-json-body": Allowed(
        "POST",
        WP_REST,
        json.dumps({"entity": "Email", "action": "get", "json": 1}).encode(),
        "application/json",
    ),
}

ESPO_ALLOWED: dict[str, Allowed] = {
    "list": Allowed("GET", f"{ESPO}/Contact"),
    "head-list": Allowed("HEAD", f"{ESPO}/Contact"),
    "list-lower-case-controller": Allowed("GET", f"{ESPO}/contact"),
    "list-select-and-order": Allowed("GET", f"{ESPO}/Contact?select=firstName,lastName&orderBy=lastName"),
    "list-where-own-attribute": Allowed(
        "GET", f"{ESPO}/Contact?where[0][type]=equals&where[0][attribute]=lastName&where[0][value]=Hopper"
    ),
    "list-searchParams": Allowed(
        "GET", f"{ESPO}/Contact?searchParams={q({'where': [{'type': 'isNotNull', 'attribute': 'lastName'}]})}"
    ),
    "list-paged": Allowed("GET", f"{ESPO}/Contact?maxSize=1&offset=1"),
}


@pytest.fixture
async def stack(aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path) -> Stack:
    return await start_stack(
        aiohttp_server,
        aiohttp_client,
        tmp_path,
        policies={"only-reads": ONLY_READS, "only-reads-espo": ONLY_READS_ESPO},
    )


async def send(stack: Stack, probe: Allowed) -> ClientResponse:
    root = str(stack.client.make_url("")).rstrip("/")
    headers = stack.bearer()
    if probe.content_type is not None:
        headers["Content-Type"] = probe.content_type
    url = URL(root + probe.target, encoded=True)
    return await stack.client.session.request(probe.method, url, data=probe.body, headers=headers)


def test_the_lists_are_big_enough() -> None:
    assert len(CIVI_ALLOWED) >= 25 and len(ESPO_ALLOWED) >= 5


@pytest.mark.parametrize("probe", [pytest.param(p, id=name) for name, p in CIVI_ALLOWED.items()])
async def test_civicrm_reads_reach_the_sandbox(stack: Stack, probe: Allowed) -> None:
    resp = await send(stack, probe)
    body = await resp.text()
    assert resp.status == 200, body
    assert len(stack.civi_received) == 1, body
    assert resp.headers.get("X-Sandbox-Contact-Id") == "42", body
    payload = json.loads(body)
    errors = [payload] if isinstance(payload, dict) else []
    if isinstance(payload, dict) and all(isinstance(v, dict) for v in payload.values()) and payload:
        errors = list(payload.values())  # a batch: one answer per call
    assert not any(e.get("is_error") or e.get("error_code") for e in errors), body


@pytest.mark.parametrize("probe", [pytest.param(p, id=name) for name, p in ESPO_ALLOWED.items()])
async def test_espocrm_reads_reach_the_sandbox(stack: Stack, probe: Allowed) -> None:
    resp = await send(stack, probe)
    body = await resp.text()
    assert resp.status == 200, body
    assert len(stack.espo_received) == 1
    assert resp.headers.get("X-Sandbox-User-Id") == "u-api"
    if probe.method != "HEAD":
        assert json.loads(body)["total"] == (1 if "Hopper" in probe.target else 3)


async def test_espocrm_read_of_one_record_and_an_email_link(stack: Stack) -> None:
    listed = await (await send(stack, ESPO_ALLOWED["list"])).json()
    contact = listed["list"][0]["id"]
    resp = await send(stack, Allowed("GET", f"{ESPO}/Contact/{contact}"))
    assert resp.status == 200
    assert (await resp.json())["id"] == contact
    # Contact.emails reaches Email, which the policy allows: forwarded (the sandbox has no Email link).
    resp = await send(stack, Allowed("GET", f"{ESPO}/Contact/{contact}/emails"))
    assert resp.status == 404, "the sandbox answers for links it does not know"
    assert resp.headers.get("X-Sandbox-User-Id") == "u-api"
    assert len(stack.espo_received) == 3
