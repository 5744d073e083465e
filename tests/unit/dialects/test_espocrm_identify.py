"""EspoCRM identify(): what real request shapes touch, and the refusals where it cannot tell."""

from __future__ import annotations

import json
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from gateway.dialects.base import OPAQUE, Operation, RequestView
from gateway.dialects.espocrm.dialect import EspoDialect, create
from gateway.errors import BadRequest

DIALECT = create({}, "upstreams.espo.dialect_options")
JSON_HEADERS = (("Content-Type", "application/json; charset=utf-8"),)


def build(
    method: str,
    raw_path: str,
    query: tuple[tuple[str, str], ...] = (),
    body: Any = None,
    headers: tuple[tuple[str, str], ...] = JSON_HEADERS,
    dialect: EspoDialect = DIALECT,
    raw_body: bytes | None = None,
) -> RequestView:
    """A view the way the pipeline builds it: canonical path, then the body only if asked for."""
    view = RequestView(
        method=method,
        path=dialect.canonical_path(raw_path),
        raw_path=raw_path,
        query=MultiDictProxy(MultiDict(query)),
        headers=CIMultiDictProxy(CIMultiDict(headers)),
    )
    if dialect.body_needed(view):
        view.body = raw_body if raw_body is not None else (b"" if body is None else json.dumps(body).encode())
    return view


def ops(*args: Any, **kwargs: Any) -> list[Operation]:
    dialect = kwargs.get("dialect", DIALECT)
    found: list[Operation] = dialect.identify(build(*args, **kwargs))
    return found


def pairs(operations: list[Operation]) -> set[tuple[str, str]]:
    return {(op.entity, op.action) for op in operations}


def opq(route: str) -> tuple[str, str]:
    """The (entity, action) pair of an opaque operation."""
    return (OPAQUE, route)


CASES: list[tuple[str, str, dict[str, Any], set[tuple[str, str]]]] = [
    # CRUD
    ("GET", "/api/v1/Lead", {}, {("Lead", "read")}),
    ("HEAD", "/api/v1/Lead", {}, {("Lead", "read")}),
    ("GET", "/api/v1/lead", {}, {("Lead", "read")}),
    ("GET", "/api/v1/LEAD", {}, {("LEAD", "read")}),
    ("GET", "/api/v1/Lead", {"query": (("maxSize", "500"),)}, {("Lead", "read")}),
    ("GET", "/api/v1/Account/6b0343f1e9ac6e2c7", {}, {("Account", "read")}),
    ("POST", "/api/v1/Lead", {"body": {"firstName": "A", "lastName": "B"}}, {("Lead", "create")}),
    ("PUT", "/api/v1/Contact/6b03", {"body": {"title": "x"}}, {("Contact", "edit")}),
    ("PATCH", "/api/v1/Opportunity/6b03", {"body": {"stage": "Closed Won"}}, {("Opportunity", "edit")}),
    ("DELETE", "/api/v1/Meeting/6b03", {}, {("Meeting", "delete")}),
    # relationships: the linked entity is touched too
    ("GET", "/api/v1/Account/a1/contacts", {}, {("Account", "read"), ("Contact", "read")}),
    ("GET", "/api/v1/Account/a1/opportunities", {}, {("Account", "read"), ("Opportunity", "read")}),
    ("GET", "/api/v1/Account/a1/cases", {}, {("Account", "read"), ("Case", "read")}),
    ("GET", "/api/v1/Account/a1/meetings", {}, {("Account", "read"), ("Meeting", "read")}),
    ("GET", "/api/v1/Meeting/m1/users", {}, {("Meeting", "read"), ("User", "read")}),
    ("GET", "/api/v1/Call/c1/leads", {}, {("Call", "read"), ("Lead", "read")}),
    ("GET", "/api/v1/Team/t1/users", {}, {("Team", "read"), ("User", "read")}),
    ("GET", "/api/v1/User/u1/teams", {}, {("User", "read"), ("Team", "read")}),
    (
        "POST",
        "/api/v1/Account/a1/contacts",
        {"body": {"id": "c1"}},
        {("Account", "edit"), ("Contact", "edit")},
    ),
    (
        "DELETE",
        "/api/v1/Account/a1/contacts",
        {"body": {"ids": ["c1"]}},
        {("Account", "edit"), ("Contact", "edit")},
    ),
    ("DELETE", "/api/v1/Account/a1/contacts", {}, {("Account", "edit"), ("Contact", "edit")}),
    (
        "POST",
        "/api/v1/Contact/c1/account",
        {"body": {"id": "a1"}},
        {("Contact", "edit"), ("Account", "edit")},
    ),
    (
        "POST",
        "/api/v1/Opportunity/o1/contacts",
        {"body": {"massRelate": True, "where": [{"type": "equals", "attribute": "title", "value": "x"}]}},
        {("Opportunity", "edit"), ("Contact", "edit")},
    ),
    ("GET", "/api/v1/Lead/l1/nosuchLink", {}, {("Lead", "read"), opq("link:Lead.nosuchLink")}),
    ("GET", "/api/v1/Account/a1/Contacts", {}, {("Account", "read"), opq("link:Account.Contacts")}),
    (
        "POST",
        "/api/v1/Lead/l1/nosuchLink",
        {"body": {"id": "x"}},
        {("Lead", "edit"), opq("link:Lead.nosuchLink")},
    ),
    # DELETE /E/action/x is no action route: the server reads it as "remove link x of record 'action'"
    ("DELETE", "/api/v1/Lead/action/convert", {}, {("Lead", "edit"), opq("link:Lead.convert")}),
    # stream and friends
    ("GET", "/api/v1/Lead/l1/stream", {}, {("Lead", "read"), ("Lead", "stream")}),
    ("GET", "/api/v1/Lead/l1/posts", {}, {("Lead", "read"), ("Lead", "stream")}),
    ("GET", "/api/v1/Lead/l1/updateStream", {}, {("Lead", "read"), ("Lead", "stream")}),
    ("GET", "/api/v1/Lead/l1/streamAttachments", {}, {("Lead", "read"), ("Lead", "stream")}),
    ("GET", "/api/v1/Lead/l1/followers", {}, {("Lead", "read"), ("Lead", "stream"), ("User", "read")}),
    ("POST", "/api/v1/Lead/l1/followers", {}, {("Lead", "edit"), ("Lead", "stream"), ("User", "read")}),
    ("DELETE", "/api/v1/Lead/l1/followers", {}, {("Lead", "edit"), ("Lead", "stream"), ("User", "read")}),
    ("PUT", "/api/v1/Lead/l1/subscription", {}, {("Lead", "read"), ("Lead", "stream")}),
    ("DELETE", "/api/v1/Lead/l1/subscription", {}, {("Lead", "read"), ("Lead", "stream")}),
    ("PUT", "/api/v1/Lead/l1/starSubscription", {}, {("Lead", "read"), ("Lead", "star")}),
    ("GET", "/api/v1/Lead/l1/usersAccess", {}, {("Lead", "read"), ("User", "read")}),
    # entity actions
    ("GET", "/api/v1/Account/action/foo", {}, {("Account", "foo")}),
    ("POST", "/api/v1/Meeting/action/sendInvitations", {}, {("Meeting", "sendInvitations")}),
    ("PUT", "/api/v1/Case/action/bar", {}, {("Case", "bar")}),
    ("POST", "/api/v1/Lead/action/create", {}, {("Lead", "create")}),
    ("POST", "/api/v1/Lead/action/Create", {}, {("Lead", "create")}),
    ("GET", "/api/v1/Lead/action/index", {}, {("Lead", "read")}),
    ("POST", "/api/v1/Lead/action/removeLink", {}, {("Lead", "edit")}),
    # cross-entity routes: the entity is in the body or a later segment
    (
        "POST",
        "/api/v1/Action",
        {"body": {"entityType": "Lead", "action": "merge", "id": "l1"}},
        {("Lead", "merge")},
    ),
    (
        "POST",
        "/api/v1/MassAction",
        {"body": {"entityType": "Lead", "action": "delete", "params": {"ids": ["a", "b"]}}},
        {("Lead", "delete")},
    ),
    (
        "POST",
        "/api/v1/MassAction",
        {
            "body": {
                "entityType": "Case",
                "action": "update",
                "params": {"where": []},
                "data": {"status": "New"},
            }
        },
        {("Case", "edit")},
    ),
    (
        "POST",
        "/api/v1/MassAction",
        {"body": {"entityType": "Contact", "action": "follow", "params": {"ids": ["a"]}}},
        {("Contact", "follow")},
    ),
    (
        "POST",
        "/api/v1/Export",
        {"body": {"entityType": "Contact", "ids": ["c"]}},
        {("Contact", "read"), ("Contact", "export")},
    ),
    ("GET", "/api/v1/Kanban/Opportunity", {}, {("Opportunity", "read")}),
    ("PUT", "/api/v1/Kanban/order", {}, {opq("PUT /Kanban/order")}),
    ("GET", "/api/v1/Kanban/Metadata", {}, {opq("GET /Kanban/:entityType")}),
    ("GET", "/api/v1/GlobalSearch", {"query": (("q", "acme"),)}, {opq("GET /GlobalSearch")}),
    ("GET", "/api/v1/Stream", {}, {opq("GET /Stream")}),
    ("GET", "/api/v1/GlobalStream", {}, {opq("GET /GlobalStream")}),
    ("GET", "/api/v1/Activities", {}, {opq("GET /Activities")}),
    ("GET", "/api/v1/Activities/upcoming", {}, {opq("GET /Activities/upcoming")}),
    ("GET", "/api/v1/Activities/Account/a1/meetings", {}, {opq("GET /Activities/:parentType/:id/:type")}),
    ("GET", "/api/v1/Timeline", {}, {opq("GET /Timeline")}),
    ("GET", "/api/v1/Metadata", {}, {opq("GET /Metadata")}),
    ("GET", "/api/v1/metadata", {}, {opq("GET /Metadata")}),
    ("GET", "/api/v1/Settings", {}, {opq("GET /Settings")}),
    ("PUT", "/api/v1/Settings", {}, {opq("PUT /Settings")}),
    ("POST", "/api/v1/Admin/rebuild", {}, {opq("POST /Admin/rebuild")}),
    ("GET", "/api/v1/Admin/jobs", {}, {opq("GET /Admin/jobs")}),
    ("GET", "/api/v1/Admin/anything", {}, {opq("GET /Admin/:id")}),
    ("POST", "/api/v1/Admin/action/whatever", {}, {opq("POST /Admin/action/:action")}),
    ("GET", "/api/v1/User/u1/acl", {}, {opq("GET /User/:id/acl")}),
    ("GET", "/api/v1/User/u1/stream/own", {}, {opq("GET /User/:id/stream/own")}),
    ("GET", "/api/v1/Attachment/file/x", {}, {opq("GET /Attachment/file/:id")}),
    ("GET", "/api/v1/%41ttachment/file/x", {}, {opq("GET /Attachment/file/:id")}),
    ("GET", "/api/v1/App/user", {}, {opq("GET /App/user")}),
    ("POST", "/api/v1/Import", {}, {opq("POST /Import")}),
    ("POST", "/api/v1/Extension/action/upload", {}, {opq("POST /Extension/action/:action")}),
    # specific routes win over the generic ones they look like
    ("GET", "/api/v1/Email/insertFieldData", {}, {opq("GET /Email/insertFieldData")}),
    ("POST", "/api/v1/Email/inbox/read", {}, {opq("POST /Email/inbox/read")}),
    ("POST", "/api/v1/Email/e1/users", {}, {opq("POST /Email/:id/users")}),
    ("GET", "/api/v1/Meeting/m1/attendees", {}, {opq("GET /Meeting/:id/attendees")}),
    ("GET", "/api/v1/Meeting/action/attendees", {}, {opq("GET /Meeting/:id/attendees")}),
    ("GET", "/api/v1/Lead/layout/detail", {}, {opq("GET /Lead/layout/:name")}),
    # nothing the server routes, or not the API at all
    ("GET", "/api/v1/", {}, {opq("GET /")}),
    ("GET", "/api/v1/Lead/", {}, {opq("GET /Lead/")}),
    ("PATCH", "/api/v1/Lead", {}, {opq("PATCH /Lead")}),
    ("OPTIONS", "/api/v1/Lead", {}, {opq("OPTIONS /Lead")}),
    ("GET", "/api/v1/Lead/1/contacts/extra", {}, {opq("GET /Lead/1/contacts/extra")}),
    ("GET", "/api/v1/A b/x", {}, {opq("GET /A b/:id")}),
    ("GET", "/api/v1/Lead;x", {}, {opq("GET /Lead;x")}),
    ("GET", "/api/v1", {}, {opq("GET /api/v1")}),
    ("GET", "/client/lib/espo.js", {}, {opq("GET /client/lib/espo.js")}),
    ("GET", "/API/V1/Lead", {}, {opq("GET /API/V1/Lead")}),
    ("GET", "/api/v1/portal-access/p1/lead", {}, {opq("GET /portal-access/p1/lead")}),
    ("POST", "/api/v1/portal-access/p1/Case", {}, {opq("POST /portal-access/p1/Case")}),
]


@pytest.mark.parametrize(("method", "path", "extra", "expected"), CASES)
def test_identify(method: str, path: str, extra: dict[str, Any], expected: set[tuple[str, str]]) -> None:
    assert pairs(ops(method, path, **extra)) == expected


def test_lead_convert_touches_lead_and_creates_the_three_records() -> None:
    body = {"id": "l1", "records": {"Account": {"name": "Acme"}, "Contact": {"lastName": "Doe"}}}
    found = ops("POST", "/api/v1/Lead/action/convert", body=body)
    assert pairs(found) == {
        ("Lead", "edit"),
        ("Account", "create"),
        ("Contact", "create"),
        ("Opportunity", "create"),
    }
    by_entity = {op.entity: op for op in found}
    assert by_entity["Lead"].record_ids == ("l1",)
    assert by_entity["Account"].fields == {"name"}
    assert by_entity["Contact"].fields == {"lastName"}


def test_lead_convert_name_is_case_insensitive_and_extra_records_are_creates() -> None:
    body = {"id": "l1", "records": {"Meeting": {"name": "kick-off"}}}
    found = pairs(ops("POST", "/api/v1/lead/action/CONVERT", body=body))
    assert found == {
        ("Lead", "edit"),
        ("Account", "create"),
        ("Contact", "create"),
        ("Opportunity", "create"),
        ("Meeting", "create"),
    }


def test_fields_and_ids_of_crud() -> None:
    (create_op,) = ops("POST", "/api/v1/Contact", body={"firstName": "A", "apiKey": "x"})
    assert create_op.fields == {"firstName", "apiKey"}
    (edit_op,) = ops("PUT", "/api/v1/Contact/c9", body={"title": "CEO"})
    assert (set(edit_op.fields), edit_op.record_ids) == ({"title"}, ("c9",))
    (read_op,) = ops("GET", "/api/v1/Contact/c9")
    assert read_op.record_ids == ("c9",)


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ((("select", "name,status"), ("orderBy", "createdAt")), {"name", "status", "createdAt"}),
        ((("attributeSelect", "a"), ("select", "b")), {"a", "b"}),
        ((("select", "a"), ("select", "b")), {"b"}),
        (
            (("where[0][type]", "equals"), ("where[0][attribute]", "status"), ("where[0][value]", "New")),
            {"status"},
        ),
        (
            (
                ("where[0][type]", "or"),
                ("where[0][value][0][type]", "isNull"),
                ("where[0][value][0][attribute]", "deep"),
            ),
            {"deep"},
        ),
        ((("whereGroup[0][type]", "isTrue"), ("whereGroup[0][field]", "legacy")), {"legacy"}),
        (
            (
                (
                    "searchParams",
                    '{"select":["a"],"orderBy":"b","where":[{"type":"or","value":[{"type":"isNull","attribute":"c"}]}]}',
                ),
            ),
            {"a", "b", "c"},
        ),
        ((("maxSize", "500"), ("q", "acme")), set()),
    ],
)
def test_list_fields(query: tuple[tuple[str, str], ...], fields: set[str]) -> None:
    (op,) = ops("GET", "/api/v1/Lead", query=query)
    assert op.fields == fields


def test_foreign_attribute_in_where_reads_the_linked_entity() -> None:
    found = ops(
        "GET",
        "/api/v1/Contact",
        query=(("where[0][type]", "isNull"), ("where[0][attribute]", "account.name")),
    )
    assert pairs(found) == {("Contact", "read"), ("Account", "read")}
    found = ops(
        "GET", "/api/v1/Contact", query=(("where[0][type]", "isNull"), ("where[0][attribute]", "secret.name"))
    )
    assert pairs(found) == {("Contact", "read"), opq("link:Contact.secret")}


def test_relationship_list_fields_go_to_the_linked_entity() -> None:
    found = ops("GET", "/api/v1/Account/a1/contacts", query=(("select", "name,emailAddress"),))
    by_entity = {op.entity: op for op in found}
    assert by_entity["Contact"].fields == {"name", "emailAddress"}
    assert by_entity["Contact"].via == "link:Account.contacts"
    assert by_entity["Account"].fields == frozenset()
    assert by_entity["Account"].record_ids == ("a1",)


def test_relate_collects_linked_ids_and_mass_relate_fields() -> None:
    found = ops("POST", "/api/v1/Account/a1/contacts", body={"ids": ["c1", "c2"]})
    assert {op.entity: op.record_ids for op in found} == {"Account": ("a1",), "Contact": ("c1", "c2")}
    where = [{"type": "and", "value": [{"type": "equals", "attribute": "title", "value": "x"}]}]
    found = ops("POST", "/api/v1/Account/a1/contacts", body={"massRelate": True, "where": where})
    assert {op.entity: op.fields for op in found}["Contact"] == {"title"}


def test_mass_action_fields_and_ids() -> None:
    body = {
        "entityType": "Lead",
        "action": "update",
        "params": {"searchParams": {"where": [{"type": "equals", "attribute": "status", "value": "New"}]}},
        "data": {"assignedUserId": "u1"},
    }
    (op,) = ops("POST", "/api/v1/MassAction", body=body)
    assert (op.entity, op.action, set(op.fields)) == ("Lead", "edit", {"status", "assignedUserId"})
    body = {"entityType": "Lead", "action": "delete", "params": {"ids": ["a", "b"]}}
    (op,) = ops("POST", "/api/v1/MassAction", body=body)
    assert op.record_ids == ("a", "b")


def test_export_reads_the_exported_fields() -> None:
    body = {
        "entityType": "Contact",
        "attributeList": ["name", "emailAddress"],
        "where": [{"type": "isNull", "attribute": "x"}],
    }
    found = ops("POST", "/api/v1/Export", body=body)
    read = next(op for op in found if op.action == "read")
    assert read.fields == {"name", "emailAddress", "x"}


@pytest.mark.parametrize(
    "body",
    [
        {"entityType": "Metadata", "action": "delete", "params": {"ids": ["a"]}},
        {"entityType": "Lead/../User", "action": "delete", "params": {"ids": ["a"]}},
    ],
)
def test_mass_action_on_a_non_entity_is_opaque(body: dict[str, Any]) -> None:
    assert pairs(ops("POST", "/api/v1/MassAction", body=body)) == {opq("POST /MassAction")}


def test_allow_unknown_links_keeps_only_the_owner() -> None:
    dialect = create({"allow_unknown_links": True}, "u")
    assert pairs(ops("GET", "/api/v1/Lead/l1/custom", dialect=dialect)) == {("Lead", "read")}


def test_link_map_option_extends_the_built_in_map() -> None:
    dialect = create({"link_map": {"Lead": {"projects": "Project"}, "Project": {"lead": "Lead"}}}, "u")
    assert pairs(ops("GET", "/api/v1/Lead/l1/projects", dialect=dialect)) == {
        ("Lead", "read"),
        ("Project", "read"),
    }
    assert pairs(ops("GET", "/api/v1/Lead/l1/meetings", dialect=dialect)) == {
        ("Lead", "read"),
        ("Meeting", "read"),
    }
    assert pairs(ops("POST", "/api/v1/Project/p1/lead", dialect=dialect, body={"id": "l"})) == {
        ("Project", "edit"),
        ("Lead", "edit"),
    }


def test_api_path_option() -> None:
    root = create({"api_path": ""}, "u")
    assert pairs(ops("GET", "/lead/1", dialect=root)) == {("Lead", "read")}
    sub = create({"api_path": "/crm/api/v1/"}, "u")
    assert pairs(ops("GET", "/crm/api/v1/Lead", dialect=sub)) == {("Lead", "read")}
    assert pairs(ops("GET", "/api/v1/Lead", dialect=sub)) == {opq("GET /api/v1/Lead")}


# -- what body_needed asks for -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "needed"),
    [
        ("POST", "/api/v1/Lead", True),
        ("PUT", "/api/v1/Lead/1", True),
        ("PATCH", "/api/v1/Lead/1", True),
        ("POST", "/api/v1/Account/1/contacts", True),
        ("DELETE", "/api/v1/Account/1/contacts", True),
        ("POST", "/api/v1/Action", True),
        ("POST", "/api/v1/MassAction", True),
        ("POST", "/api/v1/Export", True),
        ("POST", "/api/v1/Lead/action/convert", True),
        ("GET", "/api/v1/Lead", False),
        ("DELETE", "/api/v1/Lead/1", False),
        ("POST", "/api/v1/Lead/action/foo", False),
        ("POST", "/api/v1/Import", False),
        ("POST", "/api/v1/Metadata", False),
        ("POST", "/not-api/Lead", False),
        ("POST", "/api/v1/portal-access/p1/Lead", False),
    ],
)
def test_body_needed(method: str, path: str, needed: bool) -> None:
    view = RequestView(method, path, path, MultiDictProxy(MultiDict()), CIMultiDictProxy(CIMultiDict()))
    assert DIALECT.body_needed(view) is needed


# -- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "reason"),
    [
        ("POST", "/api/v1/Lead", {}, "body-required"),
        ("PUT", "/api/v1/Lead/1", {"raw_body": b"   "}, "body-required"),
        (
            "POST",
            "/api/v1/Lead",
            {"body": {"a": 1}, "headers": (("Content-Type", "text/plain"),)},
            "bad-content-type",
        ),
        ("POST", "/api/v1/Lead", {"body": {"a": 1}, "headers": ()}, "bad-content-type"),
        (
            "POST",
            "/api/v1/Lead",
            {"body": {"a": 1}, "headers": (("Content-Type", "application/json "),)},
            "bad-content-type",
        ),
        (
            "POST",
            "/api/v1/Lead",
            {
                "body": {"a": 1},
                "headers": (("Content-Type", "application/json"), ("Content-Type", "text/plain")),
            },
            "bad-content-type",
        ),
        ("POST", "/api/v1/Lead", {"body": [{"a": 1}]}, "bad-json"),
        ("POST", "/api/v1/Lead", {"raw_body": b"{not json"}, "bad-json"),
        ("POST", "/api/v1/Lead", {"raw_body": b'{"a": 1, "a": 2}'}, "bad-json"),
        ("POST", "/api/v1/Lead", {"raw_body": b'{"name": "\xff"}'}, "bad-json"),
        ("POST", "/api/v1/Lead", {"raw_body": b"[" * 100_000}, "bad-json"),
        ("POST", "/api/v1/Action", {"body": {"action": "merge", "id": "x"}}, "bad-body"),
        ("POST", "/api/v1/MassAction", {"body": {"entityType": ["Lead"], "action": "delete"}}, "bad-body"),
        ("POST", "/api/v1/MassAction", {"body": {"entityType": "Lead", "action": 3}}, "bad-body"),
        ("POST", "/api/v1/Export", {"body": {"entityType": ""}}, "bad-body"),
        ("POST", "/api/v1/Lead/action/convert", {}, "body-required"),
        ("POST", "/api/v1/Account/a1/contacts", {"raw_body": b"id=c1"}, "bad-json"),
        ("GET", "/api/v1/Lead", {"query": (("searchParams", "{bad"),)}, "bad-json"),
        ("GET", "/api/v1/Lead", {"query": (("searchParams", "[1]"),)}, "bad-search-params"),
        (
            "GET",
            "/api/v1/Lead",
            {"query": (("searchParams", '{"where":' + "[" * 100 + "]" * 100 + "}"),)},
            "bad-where",
        ),
    ],
)
def test_bad_bodies_and_params_are_refused(
    method: str, path: str, kwargs: dict[str, Any], reason: str
) -> None:
    with pytest.raises(BadRequest) as info:
        ops(method, path, **kwargs)
    assert info.value.reason == reason
    assert info.value.status == 400


@pytest.mark.parametrize(
    "kwargs",
    [
        {"headers": (("X-HTTP-Method-Override", "DELETE"),)},
        {"headers": (("x-http-method", "DELETE"),)},
        {"headers": (("X-Method-Override", "PUT"),)},
        {"query": (("_method", "DELETE"),)},
        {"query": (("_METHOD", "DELETE"),)},
    ],
)
def test_method_override_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(BadRequest) as info:
        ops("GET", "/api/v1/Lead/1", **kwargs)
    assert info.value.reason == "method-override"


def test_method_override_in_a_form_is_refused() -> None:
    view = build("POST", "/api/v1/Lead/action/foo")
    view.form = MultiDictProxy(MultiDict({"_method": "DELETE"}))
    with pytest.raises(BadRequest):
        DIALECT.identify(view)


def test_dialect_contract_constants() -> None:
    assert DIALECT.name == "espocrm"
    assert DIALECT.credential_params == frozenset()
    assert DIALECT.needs_requested_with(build("GET", "/api/v1/Lead")) is False
