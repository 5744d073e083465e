"""Property: whatever the nesting, every entity placed in a request is among the operations."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy
from yarl import URL

from gateway.dialects.base import RequestView
from gateway.dialects.civicrm.dialect import factory
from gateway.dialects.civicrm.fk import BUILTIN_FK, GENERIC_FK
from gateway.dialects.civicrm.v4_actions import params_of

DIALECT = factory({}, "upstreams.civi.options")
V3_ENTITIES = ["Contact", "Email", "Phone", "Address", "Activity", "Tag", "Note", "GroupContact", "MyThing"]
V3_ACTIONS = ["get", "create", "delete", "getsingle", "replace"]
V4_ENTITIES = ["Contact", "Email", "Phone", "Activity", "Participant", "Membership", "Note", "Group", "MyExt"]
V4_ACTIONS = ["get", "create", "update", "save", "delete", "replace"]
PLACES = ["select", "where", "where-or", "orderBy", "groupBy", "having"]


def identify(target: str, form: list[tuple[str, str]]) -> set[str]:
    url = URL("http://upstream.test" + target, encoded=True)
    view = RequestView(
        "POST",
        DIALECT.canonical_path(url.raw_path),
        url.raw_path,
        url.query,
        CIMultiDictProxy(CIMultiDict()),
        "application/x-www-form-urlencoded",
        None,
        MultiDictProxy(MultiDict(form)),
    )
    return {op.entity for op in DIALECT.identify(view)}


def v3_chains(data: st.DataObject, depth: int) -> tuple[dict[str, Any], set[str]]:
    """Params with random chained calls below them, and the entities placed."""
    params: dict[str, Any] = {"sequential": 1}
    placed: set[str] = set()
    if depth >= 3:
        return params, placed
    for index in range(data.draw(st.integers(0, 3))):
        entity = data.draw(st.sampled_from(V3_ENTITIES))
        action = data.draw(st.sampled_from([*V3_ACTIONS, ""]))
        sep = data.draw(st.sampled_from([".", "_"]))
        child, below = v3_chains(data, depth + 1)
        shape = data.draw(st.sampled_from(["dict", "list", "one"] if not below else ["dict", "list"]))
        value: Any = {"dict": child, "list": [child, {"x": 1}], "one": 1}[shape]
        params[sep.join(["api", entity, action, str(index)])] = value
        placed |= {DIALECT.schema.v3_entity(entity)} | below
    return params, placed


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_every_v3_chained_entity_is_identified(data: st.DataObject) -> None:
    roots = data.draw(st.lists(st.sampled_from(V3_ENTITIES), min_size=1, max_size=3))
    calls: dict[str, Any] = {}
    placed = {DIALECT.schema.v3_entity(entity) for entity in roots}
    for index, entity in enumerate(roots):
        params, below = v3_chains(data, 0)
        calls[f"c{index}"] = [entity, data.draw(st.sampled_from(V3_ACTIONS)), params]
        placed |= below
    if len(roots) == 1 and data.draw(st.booleans()):
        entity, action, params = calls["c0"]
        form = [("entity", entity), ("action", action), ("json", json.dumps(params))]
        found = identify("/sites/all/modules/civicrm/extern/rest.php", form)
    else:
        found = identify(
            "/civicrm/ajax/rest", [("entity", "api3"), ("action", "call"), ("json", json.dumps(calls))]
        )
    assert placed <= found


def place(data: st.DataObject, params: dict[str, Any], ref: str, action: str) -> None:
    """Puts ``ref`` in one of the places ``action`` accepts (a record for create and save)."""
    places = [p for p in PLACES if p.split("-")[0] in params_of(action)]
    if not places:
        params.setdefault("values" if action == "create" else "defaults", {})[ref] = 1
        return
    where = data.draw(st.sampled_from(places))
    if where in ("select", "groupBy"):
        expr = data.draw(st.sampled_from([ref, f"MAX({ref}) AS m", f"{ref}:label"]))
        params.setdefault(where, []).append(expr)
    elif where == "orderBy":
        params.setdefault("orderBy", {})[ref] = "DESC"
    elif where == "where-or":
        params.setdefault("where", []).append(["OR", [["id", "=", 1], ["NOT", [[ref, "IS NULL"]]]]])
    else:
        params.setdefault(where, []).append([ref, "=", "x"])


def v4_call(data: st.DataObject, depth: int) -> tuple[list[Any], set[str]]:
    """A random APIv4 call [entity, action, params] with joins, dotted reads and chains."""
    entity = data.draw(st.sampled_from(V4_ENTITIES))
    action = data.draw(st.sampled_from(V4_ACTIONS))
    params: dict[str, Any] = {}
    placed = {entity}
    joins = data.draw(st.lists(st.sampled_from(V4_ENTITIES), max_size=2)) if action == "get" else []
    for index, joined in enumerate(joins):
        spec: list[Any] = [f"{joined} AS j{index}", data.draw(st.sampled_from(["LEFT", "INNER", "EXCLUDE"]))]
        if data.draw(st.booleans()):
            bridge = data.draw(st.sampled_from(V4_ENTITIES))
            spec.append(bridge)
            placed.add(bridge)
        spec.append([f"j{index}.id", "=", "id"])
        params.setdefault("join", []).append(spec)
        placed.add(joined)
        place(data, params, f"j{index}.display_name", action)
    foreign_keys = sorted({**GENERIC_FK, **BUILTIN_FK.get(entity, {})}.items())
    for field, target in data.draw(st.lists(st.sampled_from(foreign_keys), max_size=2)):
        place(data, params, f"{field}.id", action)
        placed.add(target)
    if depth < 3:
        for index in range(data.draw(st.integers(0, 2))):
            child, below = v4_call(data, depth + 1)
            params.setdefault("chain", {})[f"c{index}"] = child
            placed |= below
    return [entity, action, params], placed


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_every_v4_chained_or_joined_entity_is_identified(data: st.DataObject) -> None:
    if data.draw(st.booleans()):
        (entity, action, params), placed = v4_call(data, 0)
        found = identify(f"/civicrm/ajax/api4/{entity}/{action}", [("params", json.dumps(params))])
    else:
        calls: dict[str, Any] = {}
        placed = set()
        for index in range(data.draw(st.integers(1, 3))):
            calls[str(index)], below = v4_call(data, 0)
            placed |= below
        found = identify("/civicrm/ajax/api4", [("calls", json.dumps(calls))])
    assert placed <= found
