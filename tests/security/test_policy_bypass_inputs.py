"""Inputs the CRM reads beyond the obvious ones, end to end, in proxy mode and through the decision endpoint.

The principal may read Contact (get and the v3 read actions) and Email. Every probe puts a field, an entity
or a credential where CiviCRM reads it but a deny-list model would not look: APIv4 parameters in the query,
``index``, APIv3 field-valued parameters and nested calls, sort expressions, routing and credentials inside
``json`` or a WordPress JSON body. Each must be refused with its reason and reach no CRM; the legitimate
shapes beside them must still pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.integration.test_decision_endpoint import ask, refusal
from tests.integration.test_decision_support import DECISION
from tests.security.test_policy_bypass import FORM, Probe, send
from tests.support.stack import Stack, start_stack

READS = """
policy: contact-reads
subjects: {principals: [svc-test]}
entities:
  Contact: {get: allow, getsingle: allow, getcount: allow, getlist: allow, getvalue: allow, getoptions: allow,
            getfield: allow, getfields: allow, autocomplete: allow, read: allow}
  Email: {get: allow}
"""
DECIDED_READS = (
    READS
    + """fields:
  Contact: {deny: [first_name]}
  "*": {allow: [api_key]}
"""
)
"""Decision mode cannot strip ``api_key`` from answers, so it refuses policies that rely on it: there the
protected field is ``first_name``."""
V4 = "/civi-jwt/civicrm/ajax/api4"
AJAX = "/civi-jwt/civicrm/ajax/rest"
WP_REST = "/civi-keys/wp-json/civicrm/v3/rest"
ESPO = "/espo-key/api/v1/Contact"
JSON = "application/json"
DENIED = {"status": 403, "reason": "policy-denied"}
ON_CONTACT = ["e.contact_id", "=", "id"]
OWN_EMAILS = ["contact_id", "=", "$id"]
API_KEY = {"status": 403, "reason": "builtin:fields.api_key"}
FIRST_NAME = {"status": 403, "reason": "contact-reads:fields.Contact.deny"}


def q(value: Any) -> str:
    return quote(value if isinstance(value, str) else json.dumps(value), safe="")


def v3(**params: Any) -> str:
    return AJAX + "?" + "&".join(f"{k}={q(v)}" for k, v in {"json": 1, **params}.items())


def get(target: str, **kw: Any) -> Probe:
    return Probe("GET", target, **kw)


def post(target: str, pairs: dict[str, Any], **kw: Any) -> Probe:
    body = "&".join(f"{k}={q(v)}" for k, v in pairs.items()).encode()
    return Probe("POST", target, body, FORM, **kw)


def where(*items: dict[str, Any], **extra: str) -> str:
    """``where[i][key]=value`` pairs as EspoCRM's list route reads them (PHP brackets)."""
    pairs: list[str] = []

    def emit(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                emit(f"{prefix}[{key}]", inner)
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                emit(f"{prefix}[{index}]", inner)
        else:
            pairs.append(f"{prefix}={q(str(value))}")

    for index, item in enumerate(items):
        emit(f"where[{index}]", item)
    pairs.extend(f"{k}={q(v)}" for k, v in extra.items())
    return f"{ESPO}?" + "&".join(pairs)


def wp(body: dict[str, Any], **kw: Any) -> Probe:
    return Probe("POST", f"{WP_REST}?entity=Contact&action=get", json.dumps(body).encode(), JSON, **kw)


def refused(field: str, protected: dict[str, Any]) -> dict[str, Probe]:
    """Every probe, with ``field`` as the field the principal may not read."""
    F = field
    return {
        # 1. APIv4 action parameters outside params
        "v4-query-chain-to-Activity": get(f"{V4}/Contact/get?chain[x][]=Activity&chain[x][]=get", **DENIED),
        "v4-query-chain-to-delete": get(
            f"{V4}/Contact/get?chain[x][0]=Contact&chain[x][1]=delete&chain[x][2][where][0][]=id"
            "&chain[x][2][where][0][]=%3D&chain[x][2][where][0][]=2",
            **DENIED,
        ),
        "v4-query-nested-chain": get(
            f"{V4}/Contact/get?chain[x][]=Email&chain[x][]=get&chain[x][2][chain][y][]=Note&chain[x][2][chain][y][]=get",
            **DENIED,
        ),
        "v4-query-join": get(f"{V4}/Contact/get?join[0][]=Contribution%20AS%20c&join[0][]=LEFT", **DENIED),
        f"v4-query-select-{F}": get(f"{V4}/Contact/get?select[]={F}", **protected),
        f"v4-query-where-{F}": get(
            f"{V4}/Contact/get?where[0][]={F}&where[0][]=%3D&where[0][]=x", **protected
        ),
        "v4-query-where-dotted-join": get(
            f"{V4}/Contact/get?where[0][]=address_primary.city&where[0][]=IS%20NOT%20NULL", **DENIED
        ),
        "v4-query-orderBy-dotted-join": get(f"{V4}/Contact/get?orderBy[address_primary.city]=ASC", **DENIED),
        "v4-query-having-in-OR": get(
            f"{V4}/Contact/get?having[0][]=OR&having[0][1][0][]=address_primary.city&having[0][1][0][]=IS%20NULL",
            **DENIED,
        ),
        "v4-query-groupBy-join": get(f"{V4}/Contact/get?groupBy[]=email_primary.contact_id.{F}", **protected),
        "v4-query-Chain-unknown-case": get(
            f"{V4}/Contact/get?Chain[x][]=Activity&Chain[x][]=get", status=400, reason="unknown-parameter"
        ),
        "v4-query-values-on-get": get(
            f"{V4}/Contact/get?values[{F}]=x", status=400, reason="unknown-parameter"
        ),
        "v4-query-unknown": get(f"{V4}/Contact/get?frobnicate=1", status=400, reason="unknown-parameter"),
        "v4-query-and-params-both-select": get(
            f"{V4}/Contact/get?select[]={F}&params={q({'select': ['id']})}",
            status=400,
            reason="ambiguous-parameter",
        ),
        "v4-body-unknown-field": post(
            f"{V4}/Contact/get", {"params": {}, "select": "x"}, status=400, reason="unknown-parameter"
        ),
        "v4-params-unknown-key": post(
            f"{V4}/Contact/get", {"params": {"bogus": [f"{F}"]}}, status=400, reason="unknown-parameter"
        ),
        "v4-unknown-action": post(
            f"{V4}/Contact/frobnicate", {"params": {}}, status=400, reason="unknown-action"
        ),
        "v4-batch-query-select": post(
            f"{V4}?select[]={F}",
            {"calls": {"a": ["Contact", "get", {}]}},
            status=400,
            reason="unknown-parameter",
        ),
        "v4-select-backtick": post(
            f"{V4}/Contact/get", {"params": {"select": [f"`{F}`"]}}, status=400, reason="bad-field"
        ),
        # 2. APIv4 index
        f"v4-index-{F}": get(f"{V4}/Contact/get?index={F}", **protected),
        "v4-index-dotted": get(f"{V4}/Email/get?index=contact_id.{F}", **protected),
        "v4-index-dotted-to-denied-entity": get(f"{V4}/Contact/get?index=address_primary.city", **DENIED),
        "v4-index-in-body": post(f"{V4}/Contact/get", {"params": {}, "index": f"{F}"}, **protected),
        "v4-index-chain-4th": post(
            f"{V4}/Email/get", {"params": {"chain": {"c": ["Contact", "get", {}, f"{F}"]}}}, **protected
        ),
        "v4-index-batch-4th": post(V4, {"calls": {"a": ["Contact", "get", {}, f"{F}"]}}, **protected),
        "v4-index-batch-key-value": post(
            V4, {"calls": [["Contact", "get", {}, {"id": f"{F}"}]]}, **protected
        ),
        "v4-index-array": get(f"{V4}/Contact/get?index[{F}]=id", status=400, reason="ambiguous-parameter"),
        "v4-index-expression": get(f"{V4}/Contact/get?index=%60{F}%60", status=400, reason="bad-field"),
        # PHP versions number an append after a negative index differently (8.3: n + 1; older: 0)
        "v4-query-append-after-negative": get(
            f"{V4}/Contact/get?select[-1]=id&select[]={F}", status=400, reason="ambiguous-parameter"
        ),
        # 3. APIv3 parameters holding field names or nested calls
        "v3-getlist-search_field": get(
            v3(entity="Contact", action="getlist", search_field=f"{F}", input="a"), **protected
        ),
        "v3-getlist-label_field": get(
            v3(entity="Contact", action="getlist", label_field=f"{F}"), **protected
        ),
        "v3-getlist-extra": get(
            v3(entity="Contact", action="getlist", json={"extra": [f"{F}"]}), **protected
        ),
        "v3-getlist-description_field": get(
            v3(entity="Contact", action="getlist", json={"description_field": [f"{F}"]}), **protected
        ),
        "v3-getlist-id_field": get(v3(entity="Contact", action="getlist", id_field=f"{F}"), **protected),
        "v3-getlist-nested-chain": get(
            v3(entity="Contact", action="getlist", json={"params": {"api.Activity.get": {}}}), **DENIED
        ),
        "v3-getlist-nested-php-chain": get(
            f"{AJAX}?entity=Contact&action=getlist&json=1&params[api.Note.delete][id]=1", **DENIED
        ),
        "v3-getlist-nested-filter": get(
            v3(entity="Contact", action="getlist", json={"params": {f"{F}": "guess"}}), **protected
        ),
        "v3-getvalue-return": get(
            v3(entity="Contact", action="getvalue", id=2, **{"return": f"{F}"}), **protected
        ),
        "v3-getoptions-field": get(v3(entity="Contact", action="getoptions", field=f"{F}"), **protected),
        "v3-getfield-name": get(v3(entity="Contact", action="getfield", name=f"{F}"), **protected),
        "v3-unknown-action": get(
            v3(entity="Contact", action="getfrobnicate"), status=400, reason="unknown-action"
        ),
        "v3-unknown-chained-action": get(
            v3(entity="Contact", action="get", json={"api.Email.getfrob": {}}),
            status=400,
            reason="unknown-action",
        ),
        "v3-options-return": get(
            v3(entity="Contact", action="get", json={"options": {"return": [F]}}), **protected
        ),
        "v3-chained-getlist": get(
            v3(entity="Email", action="get", json={"api.Contact.getlist": {"search_field": F}}), **protected
        ),
        # 4. field names inside sort expressions
        "v3-sort-field-function": get(
            v3(entity="Contact", action="get", json={"options": {"sort": f"field({F},1)"}}),
            status=400,
            reason="bad-sort",
        ),
        "v3-sort-backticks-table": get(
            v3(entity="Contact", action="get", json={"options": {"sort": f"`contact_a`.`{F}` DESC"}}),
            status=400,
            reason="bad-sort",
        ),
        "v3-options.sort-php-name": get(
            f"{AJAX}?entity=Contact&action=get&json=1&options[sort]=field({F},1)",
            status=400,
            reason="bad-sort",
        ),
        "v3-return-expression": get(
            v3(entity="Contact", action="get", json={"return": [f"`{F}`"]}), status=400, reason="bad-field"
        ),
        # 5. credentials inside bodies
        "wp-json-body-api_key": wp({"api_key": "admin-contact-key"}, status=400, reason="credential-in-body"),
        "wp-json-body-key": wp({"key": "guess"}, status=400, reason="credential-in-body"),
        "wp-json-body-_authx": wp({"_authx": "Bearer x"}, status=400, reason="credential-in-body"),
        "wp-json-body-nested-json": wp({"json": {"api_key": "x"}}, status=400, reason="credential-in-body"),
        "v3-json-api_key": get(
            v3(entity="Contact", action="get", json={"api_key": "x"}), status=400, reason="credential-in-body"
        ),
        # 6. EspoCRM where items that name links, and list parameters
        "espo-linkedWith-opportunities": get(
            where({"type": "linkedWith", "attribute": "opportunities", "value": ["o1"]}), **DENIED
        ),
        "espo-notLinkedWith-account": get(
            where({"type": "notLinkedWith", "attribute": "account", "value": ["a1"]}), **DENIED
        ),
        "espo-linkedWithAll-cases": get(
            where({"type": "linkedWithAll", "attribute": "cases", "value": ["c"]}), **DENIED
        ),
        "espo-isLinked-meetings": get(where({"type": "isLinked", "attribute": "meetings"}), **DENIED),
        "espo-isNotLinked-calls": get(where({"type": "isNotLinked", "attribute": "calls"}), **DENIED),
        "espo-isUserFromTeams": get(
            where({"type": "isUserFromTeams", "attribute": "assignedUser", "value": "t1"}), **DENIED
        ),
        "espo-columnEquals-accounts": get(
            where({"type": "columnEquals", "attribute": "accounts", "value": "x"}), **DENIED
        ),
        "espo-linkedWith-in-or": get(
            where({"type": "or", "value": [{"type": "isLinked", "attribute": "opportunities"}]}), **DENIED
        ),
        "espo-linkedWith-in-subQueryIn": get(
            where({"type": "subQueryIn", "value": [{"type": "isLinked", "attribute": "opportunities"}]}),
            **DENIED,
        ),
        "espo-linkedWith-in-not": get(
            where({"type": "not", "value": [{"type": "isLinked", "attribute": "opportunities"}]}), **DENIED
        ),
        "espo-linkedWith-via-field-key": get(where({"type": "isLinked", "field": "opportunities"}), **DENIED),
        "espo-whereGroup-linkedWith": get(
            where({"type": "isLinked", "attribute": "opportunities"}).replace("where[", "whereGroup["),
            **DENIED,
        ),
        "espo-searchParams-linkedWith": get(
            f"{ESPO}?searchParams={q({'where': [{'type': 'isLinked', 'attribute': 'opportunities'}]})}",
            **DENIED,
        ),
        "espo-orderBy-foreign": get(f"{ESPO}?orderBy=account.name", **DENIED),
        "espo-expression-item": get(
            where({"type": "expression", "attribute": "CONCAT:(account.name,'x')"}),
            status=400,
            reason="bad-where",
        ),
        "espo-unknown-where-type": get(
            where({"type": "frobnicate", "attribute": "name"}), status=400, reason="unknown-where-type"
        ),
        "espo-item-unknown-key": get(
            where({"type": "equals", "attribute": "name", "value": "x", "link": "account"}),
            status=400,
            reason="bad-where",
        ),
        "espo-unknown-list-param": get(f"{ESPO}?frobnicate=1", status=400, reason="unknown-parameter"),
        "espo-searchParams-beside-where": get(
            where({"type": "isNull", "attribute": "name"}, searchParams="{}"),
            status=400,
            reason="ambiguous-parameter",
        ),
        # 7. routing inside the payload
        "v3-json-entity": get(
            v3(entity="Contact", action="get", json={"entity": "Activity"}),
            status=400,
            reason="ambiguous-route",
        ),
        "v3-json-action": get(
            v3(entity="Contact", action="get", json={"action": "delete"}),
            status=400,
            reason="ambiguous-route",
        ),
    }


ALLOWED: dict[str, Probe] = {
    "v4-query-select-where-limit": get(
        f"{V4}/Contact/get?select[]=display_name&where[0][]=id&where[0][]=%3D&where[0][]=42&limit=5&offset=0",
        status=200,
    ),
    "v4-params-join-Email": get(
        f"{V4}/Contact/get?params={q({'select': ['id'], 'join': [['Email AS e', 'LEFT', ON_CONTACT]]})}",
        status=200,
    ),
    "v4-params-chain-Email": get(
        f"{V4}/Contact/get?params={q({'chain': {'e': ['Email', 'get', {'where': [OWN_EMAILS]}]}})}",
        status=200,
    ),
    "v4-index-id": get(f"{V4}/Contact/get?index=id", status=200),
    "v4-index-number": get(f"{V4}/Contact/get?index=0", status=200),
    "v3-getsingle": get(v3(entity="Contact", action="getsingle", id=42), status=200),
    "v3-getcount-lowercase": get(v3(entity="contact", action="getcount"), status=200),
    "espo-own-field-filters": get(
        where(
            {"type": "equals", "attribute": "lastName", "value": "Doe"},
            {"type": "or", "value": [{"type": "isNotNull", "attribute": "emailAddress"}]},
            select="id,lastName",
            orderBy="lastName",
            order="asc",
            maxSize="5",
            offset="0",
        ),
        status=200,
    ),
    "espo-searchParams-own-fields": get(
        f"{ESPO}?searchParams={q({'where': [{'type': 'contains', 'attribute': 'lastName', 'value': 'D'}]})}",
        status=200,
    ),
    "espo-filters-by-name": get(
        f"{ESPO}?primaryFilter=portalUsers&boolFilterList[]=onlyMy&textFilter=ab&q=ab", status=200
    ),
    "v3-sort-plain": get(
        v3(entity="Contact", action="get", json={"options": {"sort": "display_name DESC"}}), status=200
    ),
}


REFUSED = refused("api_key", API_KEY)
DECIDED = {
    name: probe
    for name, probe in refused("first_name", FIRST_NAME).items()
    if probe.method == "GET" and probe.target.startswith(("/civi-jwt", "/espo-key"))
}


@pytest.fixture
async def stack(aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path) -> Stack:
    return await start_stack(aiohttp_server, aiohttp_client, tmp_path, policies={"contact-reads": READS})


@pytest.fixture
async def decided(aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path) -> Stack:
    return await start_stack(
        aiohttp_server,
        aiohttp_client,
        tmp_path,
        policies={"contact-reads": DECIDED_READS},
        extra=DECISION + "  request_only_field_rules: true\n",  # first_name is denied on requests only
    )


def test_every_class_is_covered() -> None:
    assert len(REFUSED) >= 50
    assert len(DECIDED) >= 35
    prefixes = {"v4-query", "v4-index", "v3-getlist", "v3-get", "v3-sort", "wp-json-body", "v3-json-entity"}
    assert all(any(name.startswith(p) for name in REFUSED) for p in prefixes)


@pytest.mark.parametrize("probe", [pytest.param(p, id=name) for name, p in REFUSED.items()])
async def test_refused_in_proxy_mode_and_nothing_reaches_civicrm(stack: Stack, probe: Probe) -> None:
    resp = await send(stack, probe)
    body = await resp.text()
    assert resp.status == probe.status, body
    assert probe.reason in body, body
    assert stack.received() == []


@pytest.mark.parametrize("probe", [pytest.param(p, id=name) for name, p in DECIDED.items()])
async def test_refused_by_the_decision_endpoint_as_in_proxy_mode(decided: Stack, probe: Probe) -> None:
    status, reason = refusal(await ask(decided, "GET", probe.target))
    assert status == probe.status
    assert reason == ("policy-denied" if probe.status == 403 else probe.reason)
    resp = await send(decided, probe)
    body = await resp.text()
    assert (resp.status, probe.reason in body) == (probe.status, True), body
    assert decided.received() == []


@pytest.mark.parametrize("probe", [pytest.param(p, id=name) for name, p in ALLOWED.items()])
async def test_legitimate_shapes_still_pass(decided: Stack, probe: Probe) -> None:
    resp = await send(decided, probe)
    body = await resp.text()
    assert resp.status == 200, body
    assert len(decided.received()) == 1
    answer = await ask(decided, "GET", probe.target)
    assert answer.status == 200, answer.body
