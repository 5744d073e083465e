"""CiviCRM policy bypass suite, end to end: a principal allowed only ``Contact.get`` and ``Email.get``.

Every request below tries to reach another entity or action (chains, batches, joins, dotted names, PHP
parameter parsing, route tricks, body tricks). Each must be refused by the gateway (403 for the policy,
400 where the request is ambiguous) and the sandbox CiviCRM must receive nothing at all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from aiohttp import ClientResponse
from yarl import URL

from gateway.dialects.civicrm.routes import php_name
from gateway.dialects.civicrm.v4_params import canonical_params, positional
from gateway.errors import BadRequest
from tests.support.stack import Stack, start_stack

ONLY_READS = """
policy: only-reads
subjects: {principals: [svc-test]}
entities:
  Contact: {get: allow}
  Email: {get: allow}
"""

V4 = "/civi-jwt/civicrm/ajax/api4"
AJAX = "/civi-jwt/civicrm/ajax/rest"
REST_PHP = "/civi-keys/sites/all/modules/civicrm/extern/rest.php"
WP_REST = "/civi-keys/wp-json/civicrm/v3/rest"
FORM = "application/x-www-form-urlencoded"
DELETE_ONE = ["Contact", "delete", {"where": [["id", "=", 2]]}]
CHAIN_DELETE = {"chain": {"gone": DELETE_ONE}}


@dataclass(frozen=True)
class Probe:
    method: str
    target: str
    """Upstream prefix, path and query exactly as sent (already percent-encoded)."""
    body: bytes | None = None
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    status: int = 403
    reason: str = "policy-denied"


def q(value: Any) -> str:
    return quote(value if isinstance(value, str) else json.dumps(value), safe="")


def form(pairs: Sequence[tuple[str, str]] | Mapping[str, str], target: str, **kw: Any) -> Probe:
    return Probe("POST", target, urlencode(pairs).encode(), FORM, **kw)


def v4(entity: str, action: str, params: Any, **kw: Any) -> Probe:
    return form({"params": json.dumps(params)}, f"{V4}/{entity}/{action}", **kw)


def v3(pairs: Mapping[str, Any], target: str = AJAX, **kw: Any) -> Probe:
    data = {k: v if isinstance(v, str) else json.dumps(v) for k, v in pairs.items()}
    return form({"json": "1", **data} if "json" not in data else data, target, **kw)


def batch(calls: Any, **kw: Any) -> Probe:
    return form({"calls": json.dumps(calls)}, V4, **kw)


AMBIGUOUS_PARAM: dict[str, Any] = {"status": 400, "reason": "ambiguous-parameter"}
AMBIGUOUS_PATH: dict[str, Any] = {"status": 400, "reason": "ambiguous-path"}
AMBIGUOUS_ROUTE: dict[str, Any] = {"status": 400, "reason": "ambiguous-route"}
AMBIGUOUS_BODY: dict[str, Any] = {"status": 400, "reason": "ambiguous-body"}
BAD_CLAUSE: dict[str, Any] = {"status": 400, "reason": "bad-clause"}

PROBES: dict[str, Probe] = {
    # -- APIv3 chains -------------------------------------------------------------------------------
    "v3-chain-api.Contact.delete": v3(
        {"entity": "Contact", "action": "get", "json": {"api.Contact.delete": {}}}
    ),
    "v3-chain-api_Activity_create-php-array": form(
        [("entity", "Contact"), ("action", "get"), ("api_Activity_create[subject]", "x")], AJAX
    ),
    "v3-chain-dotted-name-mangled-by-php": Probe(
        "GET", f"{AJAX}?entity=Contact&action=get&json=1&api.Activity.get[sequential]=1"
    ),
    "v3-chain-equals-1": form([("entity", "Contact"), ("action", "get"), ("api.Contact.delete", "1")], AJAX),
    "v3-chain-without-action-inherits-get": v3(
        {"entity": "Contact", "action": "get", "json": {"api.Activity": {}}}
    ),
    "v3-nested-chain-3-deep": v3(
        {
            "entity": "Contact",
            "action": "get",
            "json": {"api.Email.get": {"api.Email.get": {"api.Phone.get": {}}}},
        }
    ),
    "v3-chain-list-of-creates": v3(
        {"entity": "Contact", "action": "get", "json": {"api.Email.create": [{"email": "a@b.c"}]}}
    ),
    "v3-chain-inside-json-base-overridden-elsewhere": v3(
        {"entity": "Contact", "action": "get", "json": {"sequential": 1, "api.Note.delete": {"id": 1}}}
    ),
    "v3-chain-switches-to-api-v4": v3(
        {"entity": "Contact", "action": "get", "json": {"api.Contact.get": {"version": 4}}},
        status=400,
        reason="api-version",
    ),
    "v3-php-index-space-is-an-append": form(
        [("entity", "Contact"), ("action", "get"), ("api.Email.get[ ][api.Activity.create][subject]", "x")],
        AJAX,
    ),
    "v3-nul-in-name-php-truncates": form(
        [("entity", "Contact"), ("action", "get"), ("json\x00x", json.dumps({"api.Activity.get": {}}))], AJAX
    ),
    # -- APIv3 batches ------------------------------------------------------------------------------
    "v3-api3-batch-hiding-delete": v3(
        {
            "entity": "api3",
            "action": "call",
            "json": {"a": ["Contact", "get", {}], "b": [*DELETE_ONE[:2], {}]},
        }
    ),
    "v3-Api3-batch-case": v3({"entity": "Api3", "action": "call", "json": [["Activity", "get"]]}),
    "v3-api3-batch-hiding-a-chain": v3(
        {"entity": "api3", "action": "call", "json": {"a": ["Contact", "get", {"api.Tag.get": {}}]}}
    ),
    # -- APIv3 names and duplicates -----------------------------------------------------------------
    "v3-entity-lower-case": v3({"entity": "contact", "action": "delete", "id": "2"}),
    "v3-entity-upper-case": v3({"entity": "CONTACT", "action": "delete", "id": "2"}),
    "v3-entity-underscored": v3({"entity": "con_tact", "action": "delete", "id": "2"}),
    "v3-action-mixed-case": v3({"entity": "Contact", "action": "DeLeTe", "id": "2"}),
    "v3-create-with-id-is-update": v3({"entity": "Contact", "action": "create", "id": "2", "nick_name": "x"}),
    "v3-entity-in-query-and-body": form(
        {"entity": "Activity", "action": "get"}, f"{AJAX}?entity=Contact", **AMBIGUOUS_PARAM
    ),
    "v3-entity-twice-in-query": Probe(
        "GET", f"{AJAX}?entity=Contact&entity=Activity&action=get", **AMBIGUOUS_PARAM
    ),
    "v3-entity-as-array": form([("entity[]", "Activity"), ("action", "get")], AJAX, **AMBIGUOUS_PARAM),
    "v3-destructive-get": Probe(
        "GET", f"{AJAX}?entity=Contact&action=delete&id=2&json=1", status=400, reason="destructive-get"
    ),
    "v3-return-api_key": v3({"entity": "Contact", "action": "get", "return": "display_name,api_key"}),
    "v3-return.api_key": form([("entity", "Contact"), ("action", "get"), ("return.api_key", "1")], AJAX),
    "v3-fnName-internal-call": v3(
        {"entity": "Contact", "action": "get", "fnName": "civicrm/Activity/get"},
        status=403,
        reason="internal-method",
    ),
    "v3-check_permissions-off": v3(
        {"entity": "Contact", "action": "get", "check_permissions": "0"},
        status=403,
        reason="check-permissions",
    ),
    # -- rest.php and WordPress REST ------------------------------------------------------------------
    "rest.php-legacy-q-route": Probe("GET", f"{REST_PHP}?q=civicrm/Activity/get&json=1"),
    "rest.php-q-and-entity": Probe(
        "GET", f"{REST_PHP}?q=civicrm/Activity/get&entity=Contact&action=get&json=1", **AMBIGUOUS_ROUTE
    ),
    "wp-rest-json-body-entity": Probe(
        "POST", WP_REST, json.dumps({"entity": "Activity", "action": "get"}).encode(), "application/json"
    ),
    "wp-rest-json-body-overrides-query": Probe(
        "POST",
        f"{WP_REST}?entity=Contact&action=get",
        json.dumps({"entity": "Activity", "action": "get"}).encode(),
        "application/json",
        **AMBIGUOUS_PARAM,
    ),
    "wp-rest-get-with-json-body": Probe(
        "GET",
        f"{WP_REST}?entity=Contact&action=get",
        json.dumps({"entity": "Activity"}).encode(),
        "application/json",
        **AMBIGUOUS_BODY,
    ),
    # -- routes ---------------------------------------------------------------------------------------
    "drupal-q-route-to-ajax-rest": Probe(
        "GET", "/civi-jwt/?q=civicrm/ajax/rest&entity=Activity&action=get&json=1"
    ),
    "path-and-q-name-two-routes": Probe(
        "GET", f"{V4}/Contact/get?q=civicrm/ajax/api4/Contact/delete", **AMBIGUOUS_ROUTE
    ),
    "joomla-task-with-foreign-option": Probe(
        "GET", "/civi-jwt/index.php?option=com_content&task=civicrm/ajax/api4/Activity/get", **AMBIGUOUS_ROUTE
    ),
    "percent-encoded-entity-%41ctivity": Probe("GET", f"{V4}/%41ctivity/get"),
    "percent-encoded-contact-delete": form({}, f"{V4}/%43ontact/delete"),
    "double-encoded-%2543ontact": Probe("GET", f"{V4}/%2543ontact/get", **AMBIGUOUS_PATH),
    "dot-dot-segment-Contact/../User": Probe("GET", f"{V4}/Contact/../User/get", **AMBIGUOUS_PATH),
    "encoded-dot-dot-%2e%2e": Probe("GET", f"{V4}/Contact/%2e%2e/User/get", **AMBIGUOUS_PATH),
    "encoded-slash-%2F": Probe("GET", f"{V4}/Contact%2Fdelete/get", **AMBIGUOUS_PATH),
    "api4-path-with-extra-segment": form({}, f"{V4}/Contact/delete/x"),
    "login-route": Probe("GET", "/civi-jwt/civicrm/authx/login", status=403, reason="login-route"),
    "non-api-page-is-opaque": Probe("GET", "/civi-jwt/civicrm/contact/view?cid=2"),
    # -- APIv4 ----------------------------------------------------------------------------------------
    "v4-delete": v4("Contact", "delete", {"where": [["id", "=", 2]]}),
    "v4-action-upper-case": v4("Contact", "DELETE", {"where": [["id", "=", 2]]}),
    "v4-save-is-create-and-update": v4("Contact", "save", {"records": [{"id": 2, "nick_name": "x"}]}),
    "v4-replace-deletes": v4("Email", "replace", {"records": [{"email": "a@b.c"}]}),
    "v4-Individual-is-not-Contact": v4("Individual", "get", {}),
    "v4-destructive-get": Probe(
        "GET",
        f"{V4}/Contact/delete?params={q({'where': [['id', '=', 2]]})}",
        status=405,
        reason="destructive-get",
    ),
    "v4-chain-to-delete": v4("Contact", "get", CHAIN_DELETE),
    "v4-chain-as-list": v4("Contact", "get", {"chain": [["Activity", "get", {}]]}),
    "v4-nested-chain": v4(
        "Contact", "get", {"chain": {"e": ["Email", "get", {"chain": {"a": ["Activity", "get", {}]}}]}}
    ),
    "v4-join-to-Contribution": v4(
        "Contact", "get", {"join": [["Contribution AS c", "LEFT", ["c.contact_id", "=", "id"]]]}
    ),
    "v4-join-bridge-entity": v4("Contact", "get", {"join": [["Group AS g", "LEFT", "GroupContact"]]}),
    "v4-dotted-join-Address": v4("Contact", "get", {"select": ["address_primary.city"]}),
    "v4-dotted-join-two-hops": v4(
        "Email", "get", {"select": ["contact_id.employer_id.address_primary.city"]}
    ),
    "v4-dotted-join-in-where": v4("Contact", "get", {"where": [["address_primary.city", "=", "X"]]}),
    "v4-dotted-join-in-NOT-clause": v4(
        "Contact", "get", {"where": [["NOT", ["address_primary.city", "IS NULL"]]]}
    ),
    "v4-dotted-join-in-orderBy": v4("Contact", "get", {"orderBy": {"address_primary.city": "ASC"}}),
    "v4-dotted-join-in-function": v4(
        "Contact", "get", {"select": ["GROUP_CONCAT(address_primary.city) AS c"]}
    ),
    "v4-where-clause-as-keyed-object": v4(
        "Contact", "get", {"where": [{"1": "=", "0": "address_primary.city", "2": "X"}]}, **BAD_CLAUSE
    ),
    "v4-join-spec-as-keyed-object": v4(
        "Contact", "get", {"join": [{"x": "Contribution AS c", "0": "Email AS e"}]}, **BAD_CLAUSE
    ),
    "v4-unknown-dotted-prefix-is-opaque": v4("Contact", "get", {"select": ["custom_group.field"]}),
    "v4-select-api_key": v4("Contact", "get", {"select": ["id", "api_key"]}),
    "v4-select-contact_id.api_key": v4("Email", "get", {"select": ["contact_id.api_key"]}),
    "v4-where-api_key": v4("Contact", "get", {"where": [["api_key", "=", "guess"]]}),
    "v4-checkPermissions-false": v4(
        "Contact", "get", {"checkPermissions": False}, status=403, reason="check-permissions"
    ),
    "v4-Chain-capitalised-key": v4("Contact", "get", {"Chain": {"gone": DELETE_ONE}}),
    "v4-JOIN-upper-case-key": v4("Contact", "get", {"JOIN": [["Contribution AS c", "LEFT"]]}),
    "v4-Select-capitalised-api_key": v4("Contact", "get", {"Select": ["api_key"]}),
    "v4-checkpermissions-lower-case": v4(
        "Contact", "get", {"checkPermissions": True, "checkpermissions": False}, **AMBIGUOUS_PARAM
    ),
    "v4-amp;params-crm-18384": Probe(
        "GET", f"{V4}/Contact/get?amp;params={q(CHAIN_DELETE)}", **AMBIGUOUS_PARAM
    ),
    "v4-paramp;ams-crm-18384": Probe(
        "GET", f"{V4}/Contact/get?paramp;ams={q(CHAIN_DELETE)}", **AMBIGUOUS_PARAM
    ),
    "v4-params-in-query-and-body": form(
        {"params": "{}"}, f"{V4}/Contact/get?params={q(CHAIN_DELETE)}", **AMBIGUOUS_PARAM
    ),
    "v4-params-as-array": Probe("GET", f"{V4}/Contact/get?params[chain]=x", **AMBIGUOUS_PARAM),
    # -- APIv4 batches --------------------------------------------------------------------------------
    "v4-batch-hiding-delete": batch({"a": ["Contact", "get", {}], "b": DELETE_ONE}),
    "v4-batch-named-arguments": batch({"a": {"entity": "Activity", "action": "get"}}),
    "v4-batch-with-chain": batch([["Email", "get", {"chain": {"x": ["Phone", "get", {}]}}]]),
    "v4-batch-calls-in-query": form({}, f"{V4}?calls={q({'a': ['Contact', 'get', {}]})}", **AMBIGUOUS_PARAM),
    # -- how PHP reads the body -----------------------------------------------------------------------
    "form-body-with-comma-content-type": Probe(
        "POST",
        f"{V4}/Contact/get",
        urlencode({"params": json.dumps(CHAIN_DELETE)}).encode(),
        f"{FORM},text/plain",
        **AMBIGUOUS_BODY,
    ),
    "form-body-with-space-parameters": Probe(
        "POST",
        f"{V4}/Contact/get",
        urlencode({"params": json.dumps(CHAIN_DELETE)}).encode(),
        f"{FORM} charset=utf-8",
        **AMBIGUOUS_BODY,
    ),
    "form-body-on-put-php-ignores": Probe(
        "PUT",
        f"{AJAX}?entity=Contact&action=get&json={q({'api.Activity.get': {}})}",
        urlencode({"json": "{}"}).encode(),
        FORM,
        **AMBIGUOUS_BODY,
    ),
    "more-input-vars-than-php-reads": Probe(
        "POST",
        f"{AJAX}",
        urlencode(
            [("entity", "Contact"), ("action", "get"), ("json", json.dumps({"api.Activity.get": {}}))]
            + [(f"f{i}", "1") for i in range(1000)]
            + [("json", "{}")]
        ).encode(),
        FORM,
        status=400,
        reason="too-many-parameters",
    ),
    "credential-param-in-php-disguise-api.key": Probe(
        "GET", f"{REST_PHP}?entity=Contact&action=get&json=1&api.key=admin-contact-key", **AMBIGUOUS_PARAM
    ),
    "credential-param-with-leading-space": Probe(
        "GET", f"{REST_PHP}?entity=Contact&action=get&json=1&%20api_key=admin-contact-key", **AMBIGUOUS_PARAM
    ),
    "credential-param-as-array": form(
        [("entity", "Contact"), ("action", "get"), ("_authx[]", "Bearer admin-contact-key")],
        AJAX,
        **AMBIGUOUS_PARAM,
    ),
    "credential-param-amp;api_key": Probe(
        "GET", f"{V4}/Contact/get?amp;api_key=admin-contact-key", **AMBIGUOUS_PARAM
    ),
    "enough-vars-to-push-the-signed-key-past-php": Probe(
        "GET",
        f"{REST_PHP}?entity=Contact&action=get&json=1&" + "&".join(f"f{i}=1" for i in range(990)),
        status=400,
        reason="too-many-parameters",
    ),
    "method-override-header-is-not-a-get": v4(
        "Contact", "delete", {"where": [["id", "=", 2]]}, headers={"X-HTTP-Method-Override": "GET"}
    ),
}


@pytest.fixture
async def stack(aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path) -> Stack:
    return await start_stack(aiohttp_server, aiohttp_client, tmp_path, policies={"only-reads": ONLY_READS})


async def send(stack: Stack, probe: Probe) -> ClientResponse:
    """Sends the target byte for byte: no client-side normalisation of dots or percent escapes."""
    root = str(stack.client.make_url("")).rstrip("/")
    headers = {**stack.bearer(), **probe.headers}
    if probe.content_type is not None:
        headers["Content-Type"] = probe.content_type
    url = URL(root + probe.target, encoded=True)
    return await stack.client.session.request(probe.method, url, data=probe.body, headers=headers)


def test_the_suite_is_big_enough() -> None:
    assert len(PROBES) >= 40


@pytest.mark.parametrize("probe", [pytest.param(p, id=name) for name, p in PROBES.items()])
async def test_refused_and_nothing_reaches_civicrm(stack: Stack, probe: Probe) -> None:
    resp = await send(stack, probe)
    body = await resp.text()
    assert resp.status == probe.status, body
    assert probe.reason in body, body
    assert stack.received() == []


async def test_a_denial_names_the_rule_and_counts_in_metrics(stack: Stack) -> None:
    resp = await send(stack, PROBES["v4-chain-to-delete"])
    payload = await resp.json()
    assert resp.status == 403
    assert payload["error_code"] == "policy-denied"
    assert "Contact.delete" in payload["error_message"]
    assert "default-deny" in payload["error_message"]
    line = 'crmgw_policy_denials_total{action="delete",entity="Contact",upstream="civi-jwt"} 1.0'
    assert line in stack.metrics_text().splitlines()


# -- the readings the refusals above rely on ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("json\x00x", ("json", [])),  # PHP reads the name as a C string
        ("a[b\x00c]", ("a_b", [])),
        ("a[ ][b]", ("a", [None, "b"])),  # one isspace() character before ']' is an append
        ("a[\t]", ("a", [None])),
        ("a[  ]", ("a", ["  "])),
        ("a[ x]", ("a", [" x"])),
    ],
)
def test_php_variable_names(name: str, expected: tuple[str, list[str | None]]) -> None:
    assert php_name(name) == expected


def test_apiv4_parameters_are_read_under_the_name_their_setter_has() -> None:
    assert canonical_params({"Chain": 1, "JOIN": 2, "groupby": 3, "limit": 4, "Limit": 5}) == {
        "chain": 1,
        "join": 2,
        "groupBy": 3,
        "limit": 4,
        "Limit": 5,
    }
    with pytest.raises(BadRequest) as caught:
        canonical_params({"chain": {}, "Chain": {"x": DELETE_ONE}})
    assert caught.value.reason == "ambiguous-parameter"


def test_clauses_are_read_by_position_only_when_position_and_key_agree() -> None:
    assert positional(["a", "=", 1], "clause") == ["a", "=", 1]
    assert positional({"0": "a", "1": "=", "2": 1}, "clause") == ["a", "=", 1]
    assert positional("a", "clause") == []
    for odd in ({"1": "=", "0": "a"}, {"field": "a"}, {"0": "a", "2": 1}):
        with pytest.raises(BadRequest):
            positional(odd, "clause")
