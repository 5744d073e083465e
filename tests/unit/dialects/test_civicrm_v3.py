"""APIv3 identify: real request shapes from rest.php, ajax/rest and WordPress REST clients."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy
from yarl import URL

from gateway.dialects.base import Operation, RequestView
from gateway.dialects.civicrm.dialect import factory
from gateway.errors import BadRequest, Forbidden

DIALECT = factory({}, "upstreams.civi.options")
FORM = "application/x-www-form-urlencoded"
REST = "/sites/all/modules/civicrm/extern/rest.php"
AJAX = "/civicrm/ajax/rest"
WP = "/wp-json/civicrm/v3/rest"
Pairs = list[tuple[str, str]]


def q(**params: Any) -> str:
    return "?" + urlencode({k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in params.items()})


def identify(
    method: str, target: str, form: Pairs | None = None, content_type: str = "", body: bytes | None = None
) -> list[Operation]:
    url = URL("http://upstream.test" + target, encoded=True)
    view = RequestView(
        method,
        DIALECT.canonical_path(url.raw_path),
        url.raw_path,
        url.query,
        CIMultiDictProxy(CIMultiDict()),
        content_type or (FORM if form is not None else ""),
        body,
        MultiDictProxy(MultiDict(form)) if form is not None else None,
    )
    return DIALECT.identify(view)


def summary(ops: list[Operation]) -> list[tuple[str, str, str]]:
    return [(op.entity, op.action, op.via) for op in ops]


def fields(ops: list[Operation], entity: str, action: str) -> frozenset[str]:
    return next(op.fields for op in ops if (op.entity, op.action) == (entity, action))


@pytest.mark.parametrize(
    ("method", "target", "form", "expected"),
    [
        (
            "GET",
            REST + q(entity="Contact", action="get", json=1, key="k", api_key="a"),
            None,
            [("Contact", "get", "route")],
        ),
        ("GET", AJAX + q(entity="contact", action="Get", sequential=1), None, [("Contact", "get", "route")]),
        ("GET", AJAX + q(entity="group_contact", action="get"), None, [("GroupContact", "get", "route")]),
        (
            "GET",
            AJAX + q(entity="GROUPCONTACT", action="GETSINGLE"),
            None,
            [("GroupContact", "getsingle", "route")],
        ),
        (
            "GET",
            AJAX + q(entity="Group-Contact", action="getcount"),
            None,
            [("GroupContact", "getcount", "route")],
        ),
        ("GET", AJAX + q(entity="my_thing", action="get"), None, [("MyThing", "get", "route")]),
        ("GET", AJAX + q(entity="im", action="get"), None, [("IM", "get", "route")]),
        ("GET", AJAX + q(entity="System", action="check"), None, [("System", "check", "route")]),
        (
            "POST",
            REST,
            [("entity", "Contact"), ("action", "Delete "), ("id", "4")],
            [("Contact", "delete", "route")],
        ),
        (
            "POST",
            REST,
            [("entity", "Contact"), ("action", "create"), ("contact_type", "Individual")],
            [("Contact", "create", "route")],
        ),
        (
            "POST",
            REST,
            [("entity", "Contact"), ("action", "create"), ("id", "7")],
            [("Contact", "update", "route")],
        ),
        (
            "POST",
            REST,
            [("entity", "Contact"), ("action", "create"), ("contact_id", "7")],
            [("Contact", "update", "route")],
        ),
        (
            "POST",
            REST,
            [("entity", "Email"), ("action", "create"), ("contact_id", "7")],
            [("Email", "create", "route")],
        ),
        (
            "POST",
            REST,
            [("entity", "Email"), ("action", "create"), ("id", "")],
            [("Email", "create", "route")],
        ),
        (
            "POST",
            REST,
            [("entity", "Email"), ("action", "create"), ("id", "0")],
            [("Email", "create", "route")],
        ),
        (
            "POST",
            REST + q(entity="Email", action="create"),
            [("json", json.dumps({"id": 3}))],
            [("Email", "update", "route")],
        ),
        ("POST", REST + q(entity="Tag", action="create"), [], [("Tag", "create", "route")]),
        ("PUT", AJAX + q(entity="Tag", action="delete"), [], [("Tag", "delete", "route")]),
    ],
)
def test_entity_and_action(
    method: str, target: str, form: Pairs | None, expected: list[tuple[str, str, str]]
) -> None:
    assert summary(identify(method, target, form)) == expected


def test_multipart_fields_read_like_urlencoded() -> None:
    ops = identify(
        "POST",
        REST,
        [("entity", "Note"), ("action", "create"), ("note", "x")],
        content_type="multipart/form-data; boundary=----x",
    )
    assert summary(ops) == [("Note", "create", "route")]
    assert fields(ops, "Note", "create") == {"note"}


def test_json_is_the_base_and_other_params_override_it() -> None:
    base = {"contact_type": "Individual", "first_name": "A", "api.Email.get": 1}
    ops = identify(
        "POST",
        REST,
        [
            ("entity", "Contact"),
            ("action", "get"),
            ("json", json.dumps(base)),
            ("first_name", "B"),
            ("last_name", "C"),
        ],
    )
    assert summary(ops) == [("Contact", "get", "route"), ("Email", "get", "chain:api.Email.get")]
    assert fields(ops, "Contact", "get") == {"contact_type", "first_name", "last_name"}


CHAIN_3_DEEP = {
    "api.Email.get": {"api.Phone.get": {"api.Address.get": {"return": "street_address"}}},
    "api_Note_create": [{"note": "a"}, {"note": "b", "api.Tag.get": 1}],
    "api.Activity": {"subject": "x"},
    "api.has_parent": {"x": 1},
    "api_params": {"x": 1},
    "api.Website.get": "not-a-chain",
}


def test_chains_nested_three_deep_with_vias() -> None:
    ops = identify(
        "POST", AJAX, [("entity", "Contact"), ("action", "get"), ("json", json.dumps(CHAIN_3_DEEP))]
    )
    assert summary(ops) == [
        ("Contact", "get", "route"),
        ("Email", "get", "chain:api.Email.get"),
        ("Phone", "get", "chain:api.Email.get/chain:api.Phone.get"),
        ("Address", "get", "chain:api.Email.get/chain:api.Phone.get/chain:api.Address.get"),
        ("Note", "create", "chain:api_Note_create"),
        ("Tag", "get", "chain:api_Note_create/chain:api.Tag.get"),
        ("Activity", "get", "chain:api.Activity"),
    ]
    assert fields(ops, "Address", "get") == {"street_address"}
    assert fields(ops, "Note", "create") == {"note"}
    assert "api_params" in fields(ops, "Contact", "get")
    assert "api.Website.get" in fields(ops, "Contact", "get")


@pytest.mark.parametrize(
    ("parent", "chain", "expected"),
    [
        ("Contact", {"api.Email.create": {"email": "a@b.c"}}, [("Email", "create")]),
        (
            "Contact",
            {"api.Contact.create": {"nick_name": "x"}},
            [("Contact", "create"), ("Contact", "update")],
        ),
        (
            "Activity",
            {"api.ActivityContact.create": {}},
            [("ActivityContact", "create"), ("ActivityContact", "update")],
        ),
        ("Contact", {"api.Email.create": {"id": 5}}, [("Email", "update")]),
        ("Contact", {"api.Email.delete": 1}, [("Email", "delete")]),
    ],
)
def test_chained_create_can_become_an_update(
    parent: str, chain: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    ops = identify("POST", AJAX, [("entity", parent), ("action", "create"), ("json", json.dumps(chain))])
    assert [(op.entity, op.action) for op in ops[1:]] == expected


def test_chains_from_php_query_names() -> None:
    target = AJAX + "?entity=Contact&action=get&api.Email.get[email]=x&api.Phone.get=1&return.display_name=1"
    ops = identify("GET", target)
    assert summary(ops) == [
        ("Contact", "get", "route"),
        ("Email", "get", "chain:api_Email_get"),
        ("Phone", "get", "chain:api_Phone_get"),
    ]
    assert fields(ops, "Email", "get") == {"email"}
    assert "display_name" in fields(ops, "Contact", "get")


def test_api3_batch_with_chains() -> None:
    calls = {
        "one": ["Contact", "get", {"api.Email.get": {"return": ["email"]}}],
        "two": ["Email", "create", {"id": 3, "email": "a@b.c"}],
        "three": {"0": "Tag", "1": "get"},
    }
    ops = identify("POST", AJAX, [("entity", "api3"), ("action", "call"), ("json", json.dumps(calls))])
    assert summary(ops) == [
        ("Contact", "get", "batch:one"),
        ("Email", "get", "batch:one/chain:api.Email.get"),
        ("Email", "update", "batch:two"),
        ("Tag", "get", "batch:three"),
    ]
    assert fields(ops, "Email", "update") == {"id", "email"}


def test_api3_batch_list_form() -> None:
    calls = [["Contact", "get"], ["Group", "get", {}]]
    ops = identify("GET", AJAX + q(entity="api3", action="call", json=calls))
    assert summary(ops) == [("Contact", "get", "batch:0"), ("Group", "get", "batch:1")]


@pytest.mark.parametrize(
    ("api_key_in", "params"),
    [
        ("return string", {"return": "display_name,api_key"}),
        ("return list", {"json": {"return": ["api_key"]}}),
        ("return.field", {"return.api_key": 1}),
        ("options.sort", {"json": {"options": {"sort": "api_key DESC"}}}),
        ("option.sort", {"option.sort": "api_key"}),
        ("sort", {"sort": "api_key ASC"}),
    ],
)
def test_api_key_shows_among_the_fields_wherever_it_is_asked_for(
    api_key_in: str, params: dict[str, Any]
) -> None:
    ops = identify("GET", AJAX + q(entity="Contact", action="get", **params))
    assert "api_key" in fields(ops, "Contact", "get"), api_key_in


def test_api_key_in_a_chain_and_in_php_array_return() -> None:
    chain = {"api.Contact.get": {"return": "api_key"}}
    ops = identify("GET", AJAX + q(entity="Email", action="get", json=chain) + "&return[display_name]=1")
    assert "api_key" in ops[1].fields
    assert "display_name" in ops[0].fields


def test_version_3_and_option_params_are_not_fields() -> None:
    ops = identify("GET", AJAX + q(entity="Contact", action="get", version=3, limit=5, offset=1, sort="id"))
    assert ops[0].fields == {"id"}


def test_credential_params_are_not_fields() -> None:
    ops = identify(
        "GET",
        REST
        + q(
            entity="Contact",
            action="get",
            key="k",
            api_key="secret",
            _authx="Bearer x",
            sequential=1,
            debug=1,
            json=1,
        ),
    )
    assert ops[0].fields == frozenset()


@pytest.mark.parametrize(
    ("target", "form", "expected"),
    [
        (REST + q(q="civicrm/contact/search", key="k", api_key="a"), None, [("Contact", "get", "route")]),
        (REST + q(q="civicrm/contact/get"), None, [("Contact", "get", "route")]),
        (REST, [("q", "civicrm/contact/add"), ("first_name", "A")], [("Contact", "create", "route")]),
        (REST, [("q", "civicrm/contact/add"), ("contact_id", "3")], [("Contact", "update", "route")]),
        (
            REST,
            [("q", "civicrm/group_contact/add"), ("group_id", "3")],
            [("GroupContact", "create", "route")],
        ),
        (REST + q(q="civicrm/ping"), None, [("System", "ping", "route")]),
    ],
)
def test_legacy_rest_php_routes(
    target: str, form: Pairs | None, expected: list[tuple[str, str, str]]
) -> None:
    assert summary(identify("POST" if form is not None else "GET", target, form)) == expected


def test_wordpress_rest_reads_json_bodies() -> None:
    body = json.dumps(
        {"entity": "Contact", "action": "get", "json": json.dumps({"api.Email.get": 1})}
    ).encode()
    ops = identify("POST", WP + "?key=k&api_key=a", content_type="application/json", body=body)
    assert summary(ops) == [("Contact", "get", "route"), ("Email", "get", "chain:api.Email.get")]


def test_wordpress_rest_numeric_json_flag_keeps_plain_params() -> None:
    ops = identify("GET", WP + q(entity="Contact", action="get", json=1, display_name="x"))
    assert fields(ops, "Contact", "get") == {"display_name"}


@pytest.mark.parametrize(
    ("method", "target", "form", "reason"),
    [
        ("GET", AJAX + q(entity="Contact", action="delete", id=1), None, "destructive-get"),
        ("HEAD", AJAX + q(entity="Contact", action="create"), None, "destructive-get"),
        (
            "GET",
            AJAX + q(entity="api3", action="x", json={"a": ["Contact", "delete", {}]}),
            None,
            "destructive-get",
        ),
        ("POST", AJAX + q(entity="Contact", action="get"), [("entity", "Activity")], "ambiguous-parameter"),
        ("GET", AJAX + "?entity=Contact&entity=Activity&action=get", None, "ambiguous-parameter"),
        ("GET", AJAX + "?entity[]=Contact&action=get", None, "ambiguous-parameter"),
        (
            "POST",
            AJAX + q(action="get"),
            [("action", "delete"), ("entity", "Contact")],
            "ambiguous-parameter",
        ),
        ("GET", AJAX + q(entity="Contact"), None, "missing-entity"),
        ("GET", AJAX + q(action="get"), None, "missing-entity"),
        ("GET", AJAX + q(entity="Contact", action="get", json="{not json"), None, "invalid-json"),
        ("GET", AJAX + q(entity="api3", action="x", json="[1, 2]"), None, "missing-entity"),
        ("GET", REST + q(q="civicrm/contact", key="k"), None, "bad-route"),
        ("GET", REST + q(q="drupal/contact/get"), None, "bad-route"),
        ("GET", REST + q(q="civicrm/contact/get", entity="Activity", action="get"), None, "ambiguous-route"),
        ("GET", WP + q(entity="Contact", action="get", json="nonsense"), None, "invalid-json"),
        (
            "GET",
            AJAX + q(entity="Contact", action="get", json={"api.Email.get": {"api..get": {}}}),
            None,
            "missing-entity",
        ),
        ("GET", AJAX + q(entity="Contact", action="get", version=4), None, "api-version"),
        ("POST", AJAX, [("entity", "Contact"), ("action", "get"), ("json", '{"version": 4}')], "api-version"),
        (
            "GET",
            AJAX + q(entity="Contact", action="get", json={"api.Email.get": {"version": "4"}}),
            None,
            "api-version",
        ),
    ],
)
def test_refused_as_bad_requests(method: str, target: str, form: Pairs | None, reason: str) -> None:
    with pytest.raises(BadRequest) as info:
        identify(method, target, form)
    assert info.value.reason == reason


def test_conflicting_entity_in_a_wordpress_json_body() -> None:
    body = json.dumps({"entity": "Activity"}).encode()
    with pytest.raises(BadRequest):
        identify("POST", WP + q(entity="Contact", action="get"), content_type="application/json", body=body)


@pytest.mark.parametrize(
    ("target", "form", "reason"),
    [
        (AJAX + q(className="CRM_Core_Page_AJAX", fnName="run"), None, "internal-method"),
        (AJAX + q(fnName="civicrm/contact/get"), None, "internal-method"),
        (AJAX + q(entity="Contact", action="get", json={"className": "X"}), None, "internal-method"),
        (
            AJAX,
            [("entity", "api3"), ("action", "x"), ("json", json.dumps({"a": ["C", "get", {"fnName": "y"}]}))],
            "internal-method",
        ),
        (
            AJAX + q(entity="Contact", action="get", json={"api.Email.get": {"check_permissions": 0}}),
            None,
            "check-permissions",
        ),
        (REST + q(q="civicrm/login", name="u", pass_="p"), None, "login-route"),
    ],
)
def test_refused_as_forbidden(target: str, form: Pairs | None, reason: str) -> None:
    with pytest.raises(Forbidden) as info:
        identify("POST" if form is not None else "GET", target, form)
    assert info.value.reason == reason
