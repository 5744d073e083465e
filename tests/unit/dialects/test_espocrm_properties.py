"""Properties of EspoCRM identify(): whatever the shape, every entity a request touches is an operation."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from gateway.dialects.base import OPAQUE, Operation, RequestView
from gateway.dialects.espocrm.dialect import create
from gateway.dialects.espocrm.links import BUILTIN_LINKS
from gateway.dialects.espocrm.route_table import NON_ENTITY_CONTROLLERS
from gateway.dialects.espocrm.routes import match_route
from gateway.errors import BadRequest

DIALECT = create({}, "u")
IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
KNOWN = [(entity, link) for entity, links in BUILTIN_LINKS.items() for link in links]

names = st.from_regex(IDENT, fullmatch=True).filter(lambda n: len(n) <= 20)
record_ids = st.from_regex(r"[0-9a-f]{17}", fullmatch=True)


def identify(
    method: str, path: str, body: Any = None, query: tuple[tuple[str, str], ...] = ()
) -> list[Operation]:
    view = RequestView(
        method,
        DIALECT.canonical_path(path),
        path,
        MultiDictProxy(MultiDict(query)),
        CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json"})),
    )
    if DIALECT.body_needed(view):
        view.body = json.dumps(body if body is not None else {}).encode()
    return DIALECT.identify(view)


@st.composite
def relationship(draw: st.DrawFn) -> tuple[str, str, str, str | None, dict[str, Any]]:
    entity, link = draw(
        st.one_of(st.sampled_from(KNOWN), st.tuples(st.sampled_from(sorted(BUILTIN_LINKS)), names))
    )
    method = draw(st.sampled_from(["GET", "POST", "DELETE"]))
    body = draw(
        st.one_of(
            st.fixed_dictionaries({"id": record_ids}),
            st.fixed_dictionaries({"ids": st.lists(record_ids, max_size=3)}),
            st.fixed_dictionaries(
                {"massRelate": st.just(True), "where": st.just([{"type": "isNotNull", "attribute": "name"}])}
            ),
        )
    )
    return method, entity, link, BUILTIN_LINKS[entity].get(link), body


@given(relationship(), record_ids, st.booleans())
def test_relationships_touch_both_ends(
    request: tuple[str, str, str, str | None, dict[str, Any]], record: str, lower_first: bool
) -> None:
    method, entity, link, target, body = request
    route = match_route(method, f"/{entity}/{record}/{link}")
    # Specific routes (POST /Email/:id/users, /Lead/:id/stream...) are other kinds, tested elsewhere.
    assume(route is not None and route.kind.startswith("link-"))
    sent_entity = entity[0].lower() + entity[1:] if lower_first else entity
    ops = identify(method, f"/api/v1/{sent_entity}/{record}/{link}", body=body)
    action = "read" if method == "GET" else "edit"
    found = {(op.entity, op.action) for op in ops}
    assert (entity, action) in found
    if target is not None:
        assert (target, action) in found
    else:
        assert (OPAQUE, f"link:{entity}.{link}") in found
    assert all(op.entity == OPAQUE or IDENT.fullmatch(op.entity) for op in ops)


@given(relationship())
def test_foreign_attributes_in_list_filters_touch_the_linked_entity(
    request: tuple[str, str, str, str | None, dict[str, Any]],
) -> None:
    _, entity, link, target, _ = request
    ops = identify(
        "GET",
        f"/api/v1/{entity}",
        query=(("where[0][type]", "isNull"), ("where[0][attribute]", f"{link}.name")),
    )
    found = {(op.entity, op.action) for op in ops}
    assert (entity, "read") in found
    assert (target, "read") in found if target is not None else (OPAQUE, f"link:{entity}.{link}") in found


MASS = {"delete": "delete", "update": "edit"}


@given(
    names,
    st.one_of(st.sampled_from(["delete", "update", "follow", "unfollow", "convertCurrency"]), names),
    st.one_of(
        st.fixed_dictionaries({"ids": st.lists(record_ids, min_size=1, max_size=3)}),
        st.fixed_dictionaries({"where": st.just([{"type": "equals", "attribute": "status", "value": "x"}])}),
    ),
)
def test_mass_actions_touch_the_entity_type_of_the_body(
    entity: str, action: str, params: dict[str, Any]
) -> None:
    body = {"entityType": entity, "action": action, "params": params, "data": {"status": "x"}}
    ops = identify("POST", "/api/v1/MassAction", body=body)
    if entity in NON_ENTITY_CONTROLLERS:
        assert [(op.entity, op.action) for op in ops] == [(OPAQUE, "POST /MassAction")]
        return
    assert (entity, MASS.get(action, action)) in {(op.entity, op.action) for op in ops}
    assert set(params.get("ids", [])) <= {i for op in ops for i in op.record_ids}


@given(names, names, record_ids)
def test_actions_and_exports_touch_the_entity_type_of_the_body(entity: str, action: str, record: str) -> None:
    action_ops = identify(
        "POST", "/api/v1/Action", body={"entityType": entity, "action": action, "id": record}
    )
    export_ops = identify("POST", "/api/v1/Export", body={"entityType": entity})
    if entity in NON_ENTITY_CONTROLLERS:
        assert {op.entity for op in action_ops + export_ops} == {OPAQUE}
        return
    assert {(op.entity, op.action) for op in action_ops} == {(entity, action)}
    assert {(op.entity, op.action) for op in export_ops} == {(entity, "read"), (entity, "export")}


PIECES = [
    "Lead",
    "lead",
    "Account",
    "action",
    "convert",
    "Metadata",
    "Admin",
    "file",
    "Attachment",
    "contacts",
    "stream",
    "followers",
    "layout",
    "x",
    "1",
    "MassAction",
    "App",
    "user",
    "Email",
    "inbox",
    "read",
]


@settings(max_examples=300)
@given(
    st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
    st.lists(st.one_of(st.sampled_from(PIECES), names), min_size=0, max_size=5),
)
def test_any_path_is_classified_or_refused_never_guessed(method: str, segments: list[str]) -> None:
    body = {"entityType": "Lead", "action": "delete", "id": "1", "params": {"ids": ["1"]}}
    try:
        ops = identify(method, "/api/v1/" + "/".join(segments), body=body)
    except BadRequest:
        return
    assert ops
    for op in ops:
        assert op.entity == OPAQUE or IDENT.fullmatch(op.entity), op
        assert op.action
