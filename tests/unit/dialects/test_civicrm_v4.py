"""APIv4 identify: single calls, batches, chains, explicit and implicit joins."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy
from yarl import URL

from gateway.dialects.base import OPAQUE, Operation, RequestView
from gateway.dialects.civicrm.dialect import CiviCrmDialect, factory
from gateway.dialects.civicrm.v4 import expression_fields
from gateway.errors import BadRequest, Forbidden, GatewayError

DIALECT = factory({}, "upstreams.civi.options")
FORM = "application/x-www-form-urlencoded"
API4 = "/civicrm/ajax/api4"


def identify(
    method: str,
    target: str,
    form: list[tuple[str, str]] | None = None,
    dialect: CiviCrmDialect = DIALECT,
) -> list[Operation]:
    url = URL("http://upstream.test" + target, encoded=True)
    view = RequestView(
        method,
        dialect.canonical_path(url.raw_path),
        url.raw_path,
        url.query,
        CIMultiDictProxy(CIMultiDict()),
        FORM if form is not None else "",
        None,
        MultiDictProxy(MultiDict(form)) if form is not None else None,
    )
    return dialect.identify(view)


def call(
    entity: str, action: str, params: dict[str, Any] | None = None, method: str = "POST"
) -> list[Operation]:
    """One APIv4 call the way CRM.api4 sends it: ``params`` as a form field (or query on GET)."""
    encoded = [("params", json.dumps(params))] if params is not None else []
    if method in ("GET", "HEAD"):
        return identify(method, f"{API4}/{entity}/{action}?{urlencode(encoded)}")
    return identify(method, f"{API4}/{entity}/{action}", encoded)


def summary(ops: list[Operation]) -> list[tuple[str, str, str]]:
    return [(op.entity, op.action, op.via) for op in ops]


def op(ops: list[Operation], entity: str, action: str, via: str) -> Operation:
    return next(o for o in ops if (o.entity, o.action, o.via) == (entity, action, via))


def test_single_get_over_get_with_params_in_the_query() -> None:
    ops = call(
        "Contact", "get", {"select": ["display_name", "email_primary.email"], "limit": 5}, method="GET"
    )
    assert summary(ops) == [("Contact", "get", "route"), ("Email", "get", "join:email_primary")]
    assert ops[0].fields == {"display_name", "email_primary"}
    assert ops[1].fields == {"email"}


def test_params_in_the_query_of_a_post_with_an_empty_body() -> None:
    ops = identify(
        "POST", f"{API4}/Activity/get?" + urlencode({"params": json.dumps({"select": ["subject"]})}), []
    )
    assert summary(ops) == [("Activity", "get", "route")]
    assert ops[0].fields == {"subject"}


@pytest.mark.parametrize(
    ("entity", "action", "expected"),
    [
        ("contact", "GET", ("Contact", "get")),
        ("Contact", "getfields", ("Contact", "getFields")),
        ("Contact", "DELETE", ("Contact", "delete")),
        ("MyExtEntity", "AutoComplete", ("MyExtEntity", "autocomplete")),
        ("Custom_Extra", "get", ("Custom_Extra", "get")),
    ],
)
def test_names_canonicalised_case_insensitively_when_known(
    entity: str, action: str, expected: tuple[str, str]
) -> None:
    assert summary(call(entity, action, {}))[0][:2] == expected


@pytest.mark.parametrize(
    ("action", "params", "expected"),
    [
        ("create", {"values": {"first_name": "A"}}, ["create"]),
        ("create", {"values": {"id": 3, "first_name": "A"}}, ["create", "update"]),
        ("update", {"values": {"first_name": "A"}, "where": [["id", "=", 3]]}, ["update"]),
        ("delete", {"where": [["id", "=", 3]]}, ["delete"]),
        ("save", {"records": [{"first_name": "A"}]}, ["create"]),
        ("save", {"records": [{"first_name": "A"}, {"id": 4}]}, ["create", "update"]),
        ("save", {"records": [{"first_name": "A"}], "defaults": {"id": 1}}, ["create", "update"]),
        ("save", {"records": [{"email": "a@b.c"}], "match": ["email"]}, ["create", "update"]),
        ("replace", {"records": [{"first_name": "A"}], "where": [["id", ">", 1]]}, ["delete", "create"]),
        ("replace", {"records": [{"id": 2}]}, ["delete", "create", "update"]),
        ("getFields", {"where": [["name", "=", "api_key"]]}, ["getFields"]),
    ],
)
def test_write_actions(action: str, params: dict[str, Any], expected: list[str]) -> None:
    ops = call("Contact", action, params)
    assert [(o.entity, o.via) for o in ops] == [("Contact", "route")] * len(expected)
    assert [o.action for o in ops] == expected


def test_write_fields_come_from_values_records_defaults_and_where() -> None:
    params = {
        "records": [{"first_name": "A"}, {"last_name": "B"}],
        "defaults": {"source": "x"},
        "match": ["email"],
    }
    ops = call("Contact", "save", params)
    assert ops[0].fields == {"first_name", "last_name", "source", "email"}


def test_dotted_value_keys_write_the_joined_entity() -> None:
    ops = call("Contact", "create", {"values": {"first_name": "A", "email_primary.email": "a@b.c"}})
    assert summary(ops) == [
        ("Contact", "create", "route"),
        ("Email", "create", "join:email_primary"),
        ("Email", "update", "join:email_primary"),
    ]


def test_chain_nested_three_deep() -> None:
    params = {
        "chain": {
            "emails": [
                "Email",
                "get",
                {
                    "where": [["contact_id", "=", "$id"]],
                    "chain": {"phones": ["Phone", "get", {"chain": {"addr": ["Address", "delete", {}]}}]},
                },
            ],
            "notes": {"0": "Note", "1": "create", "2": {"values": {"note": "x"}}},
        }
    }
    ops = call("Contact", "get", params)
    assert summary(ops) == [
        ("Contact", "get", "route"),
        ("Email", "get", "chain:emails"),
        ("Phone", "get", "chain:emails/chain:phones"),
        ("Address", "delete", "chain:emails/chain:phones/chain:addr"),
        ("Note", "create", "chain:notes"),
    ]
    assert op(ops, "Email", "get", "chain:emails").fields == {"contact_id"}


def test_explicit_joins_with_alias_bridge_and_conditions() -> None:
    params = {
        "select": ["id", "e.email", "g.title", "e.contact_id.display_name"],
        "join": [
            ["Email AS e", "LEFT", ["e.contact_id", "=", "id"], ["e.is_primary", "=", True]],
            ["Group AS g", "INNER", "GroupContact", ["g.id", "=", "'literal.value'"]],
            ["Phone", "EXCLUDE"],
        ],
    }
    ops = call("Contact", "get", params)
    assert summary(ops) == [
        ("Contact", "get", "route"),
        ("Email", "get", "join:e"),
        ("Group", "get", "join:g"),
        ("GroupContact", "get", "join:g/bridge"),
        ("Phone", "get", "join:Phone"),
        ("Contact", "get", "join:e.contact_id"),
    ]
    assert op(ops, "Email", "get", "join:e").fields == {"email", "contact_id", "is_primary"}
    assert op(ops, "Group", "get", "join:g").fields == {"id", "title"}
    assert op(ops, "Contact", "get", "join:e.contact_id").fields == {"display_name"}
    assert ops[0].fields == {"id"}


def test_implicit_joins_everywhere_a_field_is_read() -> None:
    params = {
        "select": [
            "subject",
            "GROUP_CONCAT(DISTINCT source_contact_id.sort_name) AS names",
            "COUNT(id) AS n",
        ],
        "where": [
            ["OR", [["campaign_id.title", "LIKE", "a.b%"], ["NOT", [["case_id.subject", "IS NULL"]]]]],
            ["AND", [["parent_id.subject", "=", "x"]]],
        ],
        "orderBy": {"relationship_id.description": "ASC"},
        "groupBy": ["original_id.subject"],
        "having": [["assignee_contact_id.display_name", "=", "x"]],
    }
    ops = call("Activity", "get", params)
    joined = {(o.entity, o.via) for o in ops[1:]}
    assert joined == {
        ("Contact", "join:source_contact_id"),
        ("Campaign", "join:campaign_id"),
        ("Case", "join:case_id"),
        ("Activity", "join:parent_id"),
        ("Relationship", "join:relationship_id"),
        ("Activity", "join:original_id"),
        ("Contact", "join:assignee_contact_id"),
    }
    assert "names" not in ops[0].fields and "n" not in ops[0].fields
    assert {"subject", "id", "source_contact_id"} <= ops[0].fields


def test_multi_hop_join_and_pseudo_constants() -> None:
    params = {
        "select": [
            "contact_id.employer_id.display_name",
            "location_type_id:label",
            "contact_id.gender_id:name",
        ]
    }
    ops = call("Email", "get", params)
    assert summary(ops) == [
        ("Email", "get", "route"),
        ("Contact", "get", "join:contact_id"),
        ("Contact", "get", "join:contact_id.employer_id"),
    ]
    assert ops[0].fields == {"contact_id", "location_type_id"}
    assert ops[1].fields == {"employer_id", "gender_id"}
    assert ops[2].fields == {"display_name"}


def test_where_value_read_as_a_field_only_when_flagged_as_expression() -> None:
    ops = call("Contact", "get", {"where": [["id", "=", "employer_id.id", True], ["nick_name", "=", "x.y"]]})
    assert summary(ops) == [("Contact", "get", "route"), ("Contact", "get", "join:employer_id")]


@pytest.mark.parametrize(
    ("entity", "field", "opaque"),
    [
        ("Contact", "Custom_Group.field", "dotted:Contact.Custom_Group"),
        ("Contact", "custom.*", "dotted:Contact.custom"),
        ("Activity", "source_record_id.subject", "dotted:Activity.source_record_id"),
        ("Email", "contact_id.nothing_here.x", "dotted:Contact.nothing_here"),
        ("MyExt", "thing_id.name", "dotted:MyExt.thing_id"),
    ],
)
def test_unresolvable_dotted_prefixes_are_opaque(entity: str, field: str, opaque: str) -> None:
    ops = call(entity, "get", {"select": [field]})
    assert (OPAQUE, opaque) in {(o.entity, o.action) for o in ops}


def test_fk_map_option_resolves_extension_fields() -> None:
    dialect = factory({"fk_map": {"MyExt": {"thing_id": "Thing"}, "*": {"owner_id": "Contact"}}}, "u")
    target = f"{API4}/MyExt/get"
    ops = identify(
        "POST", target, [("params", json.dumps({"select": ["thing_id.name", "owner_id.sort_name"]}))], dialect
    )
    assert summary(ops) == [
        ("MyExt", "get", "route"),
        ("Thing", "get", "join:thing_id"),
        ("Contact", "get", "join:owner_id"),
    ]


@pytest.mark.parametrize(
    ("params", "has_api_key"),
    [
        ({"select": ["*"]}, False),
        ({"select": ["api_key"]}, True),
        ({"select": ["UPPER(api_key) AS k"]}, True),
        ({"where": [["api_key", "=", "x"]]}, True),
        ({"where": [["OR", [["id", "=", 1], ["api_key", "IS NOT NULL"]]]]}, True),
        ({"orderBy": {"api_key": "ASC"}}, True),
        ({"values": {"api_key": "x"}}, True),
        ({"select": ["'api_key'"]}, False),
    ],
)
def test_api_key_only_when_named(params: dict[str, Any], has_api_key: bool) -> None:
    ops = call("Contact", "update" if "values" in params else "get", params)
    assert ("api_key" in ops[0].fields) is has_api_key


def test_api_key_through_a_join_belongs_to_the_joined_contact() -> None:
    ops = call("Email", "get", {"select": ["contact_id.api_key"]})
    assert op(ops, "Contact", "get", "join:contact_id").fields == {"api_key"}


def test_batch_calls_dict_list_and_named_arguments() -> None:
    calls = {
        "a": ["Contact", "get", {"select": ["id"]}],
        "b": {"entity": "Email", "action": "save", "params": {"records": [{"id": 1}]}},
        "c": ["Tag", "get"],
        "d": {"0": "Note", "action": "delete"},
    }
    ops = identify("POST", API4, [("calls", json.dumps(calls))])
    assert summary(ops) == [
        ("Contact", "get", "batch:a"),
        ("Email", "create", "batch:b"),
        ("Email", "update", "batch:b"),
        ("Tag", "get", "batch:c"),
        ("Note", "delete", "batch:d"),
    ]
    listed = identify(
        "POST", API4 + "/", [("calls", json.dumps([["Group", "get", {"chain": {"x": ["Tag", "get"]}}]]))]
    )
    assert summary(listed) == [("Group", "get", "batch:0"), ("Tag", "get", "batch:0/chain:x")]


@pytest.mark.parametrize(
    ("method", "target", "form", "reason"),
    [
        ("POST", f"{API4}/Contact/get?params=%7B%7D", [("params", "{}")], "ambiguous-parameter"),
        ("POST", f"{API4}/Contact/get", [("params", "{not json")], "invalid-json"),
        ("POST", f"{API4}/Contact/get", [("params", '["x"]')], "invalid-json"),
        ("POST", f"{API4}/Contact/get", [("params", "{}"), ("params", '{"a":1}')], "ambiguous-parameter"),
        ("POST", f"{API4}/Contact/get", [("params[select]", "x")], "ambiguous-parameter"),
        ("POST", API4, [], "bad-batch"),
        ("POST", f"{API4}?calls=%7B%7D", [("calls", "{}")], "ambiguous-parameter"),
        ("POST", API4, [("calls", json.dumps({"a": {"1": "get", "0": "Contact"}}))], "bad-batch"),
        ("POST", API4, [("calls", json.dumps({"a": {"entity": "C", "1": "get"}}))], "bad-batch"),
        ("POST", API4, [("calls", json.dumps({"a": {"entity": "C", "0": "D"}}))], "bad-batch"),
        ("POST", API4, [("calls", json.dumps({"a": {"entity": "C", "verb": "get"}}))], "bad-batch"),
        ("POST", API4, [("calls", json.dumps({"a": ["Contact"]}))], "missing-entity"),
        (
            "POST",
            API4,
            [("calls", json.dumps({"a": ["Contact", "get", {"chain": {"x": ["Email"]}}]}))],
            "missing-entity",
        ),
        ("POST", f"{API4}/Contact/get", [("params", json.dumps({"join": [["Email AS"]]}))], "bad-entity"),
        ("POST", f"{API4}/Contact/get", [("params", json.dumps({"join": [[3, "LEFT"]]}))], "bad-join"),
        (
            "POST",
            f"{API4}/Contact/create",
            [("params", json.dumps({"values": {"contact_id..x": 1}}))],
            "bad-field",
        ),
        (
            "POST",
            f"{API4}/Contact/get",
            [("params", json.dumps({"join": [["Email AS e AS f"]]}))],
            "bad-join",
        ),
        (
            "POST",
            f"{API4}/Contact/get",
            [("params", json.dumps({"chain": {"x": ["E-mail", "get"]}}))],
            "bad-entity",
        ),
        ("POST", f"{API4}/Con%20tact/get", [], "bad-entity"),
        ("POST", f"{API4}/Contact/get%20", [], "bad-action"),
    ],
)
def test_refused_as_bad_requests(method: str, target: str, form: list[tuple[str, str]], reason: str) -> None:
    with pytest.raises(BadRequest) as info:
        identify(method, target, form)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", f"{API4}/Contact/delete"),
        ("HEAD", f"{API4}/Contact/save"),
        ("GET", f"{API4}/Contact/replace"),
        ("GET", API4 + "?calls=%7B%7D"),
    ],
)
def test_writes_over_get_answer_405(method: str, target: str) -> None:
    with pytest.raises(GatewayError) as info:
        identify(method, target)
    assert (info.value.status, info.value.reason) == (405, "destructive-get")


@pytest.mark.parametrize("action", ["get", "getFields", "GETACTIONS", "autocomplete"])
def test_reads_over_get_are_allowed(action: str) -> None:
    assert call("Contact", action, {}, method="GET")


def test_permission_checks_cannot_be_turned_off_in_a_chain() -> None:
    params = {"chain": {"x": ["Email", "get", {"checkPermissions": False}]}}
    with pytest.raises(Forbidden):
        call("Contact", "get", params)


def test_nesting_is_bounded() -> None:
    params: dict[str, Any] = {}
    for _ in range(40):
        params = {"chain": {"x": ["Contact", "get", params]}}
    with pytest.raises(BadRequest) as info:
        call("Contact", "get", params)
    assert info.value.reason == "too-deep"


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("display_name", ["display_name"]),
        ("contact_id.display_name:label", ["contact_id.display_name:label"]),
        ("GROUP_CONCAT(DISTINCT e.email ORDER BY e.id SEPARATOR ', ') AS emails", ["e.email", "e.id"]),
        ("COUNT(*) AS n", ["*"]),
        ("contact_id.* ", ["contact_id.*"]),
        ("total_amount * 2", ["total_amount", "*"]),
        ("IF(is_deleted, 'a.b', \"c.d\") AS x", ["is_deleted"]),
        ("DATE(created_date)", ["created_date"]),
    ],
)
def test_expression_fields(expr: str, expected: list[str]) -> None:
    assert expression_fields(expr) == expected
