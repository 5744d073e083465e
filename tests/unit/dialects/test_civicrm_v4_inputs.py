"""APIv4 as ``CRM_Api4_Page_AJAX::getParamsFromRequest`` reads it: query parameters the action accepts,
``index`` (top level, chain and batch), unknown parameters and actions refused."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from gateway.dialects.base import OPAQUE, Operation
from gateway.dialects.civicrm.dialect import factory
from gateway.dialects.civicrm.v4_actions import ACTION_PARAMS, Shape, check_params
from gateway.dialects.civicrm.v4_request import index_fields
from gateway.errors import BadRequest
from tests.unit.dialects.test_civicrm_v4 import API4, identify

DIALECT = factory({}, "upstreams.civi.options")


def reads(ops: list[Operation]) -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = {}
    for op in ops:
        found.setdefault((op.entity, op.action), set()).update(op.fields)
    return found


def get(query: str, entity: str = "Contact", action: str = "get") -> list[Operation]:
    return identify("GET", f"{API4}/{entity}/{action}?{query}")


def params(value: Any) -> str:
    return "params=" + quote(json.dumps(value))


@pytest.mark.parametrize(
    ("query", "entity", "expected"),
    [
        ("chain[x][]=Activity&chain[x][]=get", "Activity", "get"),
        ("chain[x][0]=Contact&chain[x][1]=delete", "Contact", "delete"),
        (
            "chain[x][]=Email&chain[x][]=get&chain[x][2][chain][y][]=Note&chain[x][2][chain][y][]=get",
            "Note",
            "get",
        ),
        ("join[0][]=Contribution%20AS%20c&join[0][]=LEFT", "Contribution", "get"),
        ("where[0][]=address_primary.city&where[0][]==&where[0][]=X", "Address", "get"),
        ("orderBy[address_primary.city]=ASC", "Address", "get"),
        ("select[]=email_primary.email", "Email", "get"),
        ("groupBy[]=address_primary.city", "Address", "get"),
        ("having[0][]=address_primary.city&having[0][]=IS%20NULL", "Address", "get"),
    ],
)
def test_query_parameters_the_action_accepts_are_part_of_the_call(
    query: str, entity: str, expected: str
) -> None:
    assert (entity, expected) in reads(get(query))


def test_a_field_named_in_the_query_is_read() -> None:
    assert "api_key" in reads(get("select[]=api_key"))[("Contact", "get")]
    assert "api_key" in reads(get("where[0][]=api_key&where[0][]=%3D&where[0][]=x"))[("Contact", "get")]


def test_plain_reads_with_query_parameters_still_pass() -> None:
    ops = get("select[]=display_name&where[0][]=id&where[0][]=%3D&where[0][]=2&limit=5&offset=10")
    assert reads(ops) == {("Contact", "get"): {"display_name", "id"}}


@pytest.mark.parametrize(
    ("target", "entity", "fields"),
    [
        ("Contact/get?index=api_key", "Contact", {"api_key"}),
        ("Email/get?index=contact_id.api_key", "Contact", {"api_key"}),
        ("Contact/get?index=3", "Contact", set()),
        ("Contact/get?index=display_name", "Contact", {"display_name"}),
    ],
)
def test_index_is_a_field_read(target: str, entity: str, fields: set[str]) -> None:
    found = reads(identify("GET", f"{API4}/{target}"))
    assert found.get((entity, "get"), set()) >= fields
    if not fields:
        assert found == {("Contact", "get"): set()}


def test_index_of_a_chain_and_of_a_batch_call_is_a_field_read() -> None:
    chained = {"chain": {"x": ["Email", "get", {}, "contact_id.api_key"]}}
    assert (
        "api_key"
        in reads(identify("POST", f"{API4}/Email/get", [("params", json.dumps(chained))]))[("Contact", "get")]
    )
    calls = {"a": ["Contact", "get", {}, {"api_key": "id"}]}
    assert reads(identify("POST", API4, [("calls", json.dumps(calls))]))[("Contact", "get")] == {
        "api_key",
        "id",
    }


@pytest.mark.parametrize(
    "index",
    [["api_key"], {"a": "b", "c": "d"}, "`api_key`", "field(api_key,1)", "contact_a.api_key DESC", 1.5, True],
)
def test_an_index_that_is_not_plain_field_names_is_refused(index: Any) -> None:
    with pytest.raises(BadRequest) as caught:
        index_fields(index)
    assert caught.value.reason in ("bad-index", "bad-field")


@pytest.mark.parametrize(
    ("target", "form", "reason", "named"),
    [
        ("Contact/get?foo=1", None, "unknown-parameter", "foo"),
        ("Contact/get?Chain[x][]=Activity&Chain[x][]=get", None, "unknown-parameter", "Chain"),
        ("Contact/get?values[api_key]=x", None, "unknown-parameter", "values"),
        ("Contact/get?index[]=api_key", None, "ambiguous-parameter", "index"),
        (f"Contact/get?select[]=id&{params({'select': ['id']})}", None, "ambiguous-parameter", "select"),
        (f"Contact/get?{params({'bogus': 1})}", None, "unknown-parameter", "bogus"),
        (f"Contact/get?{params({'values': {'x': 1}})}", None, "unknown-parameter", "values"),
        ("Contact/frobnicate", [], "unknown-action", "frobnicate"),
        ("Contact/get", [("params", "{}"), ("extra", "1")], "unknown-parameter", "extra"),
        (f"Contact/get?{params({'select': ['`api_key`']})}", None, "bad-field", "`"),
        (f"Contact/get?{params({'select': 'api_key'})}", None, "bad-parameter", "select"),
        (f"Contact/get?{params({'limit': [1]})}", None, "bad-parameter", "limit"),
        (
            f"Contact/autocomplete?{params({'savedSearch': {'api_entity': 'Activity'}})}",
            None,
            "bad-parameter",
            "",
        ),
    ],
)
def test_refused(target: str, form: list[tuple[str, str]] | None, reason: str, named: str) -> None:
    with pytest.raises(BadRequest) as caught:
        identify("GET" if form is None else "POST", f"{API4}/{target}", form)
    assert caught.value.reason == reason
    assert named in caught.value.message


def test_a_batch_reads_only_calls() -> None:
    with pytest.raises(BadRequest) as caught:
        identify("POST", f"{API4}?select[]=api_key", [("calls", "[]")])
    assert caught.value.reason == "unknown-parameter"
    with pytest.raises(BadRequest):
        identify("POST", API4, [("calls", "[]"), ("index", "api_key")])


def test_an_upstream_may_let_a_named_parameter_through_and_check_reports_it() -> None:
    lenient = factory({"allow_parameters": ["_"]}, "upstreams.civi.options")
    ops = identify("GET", f"{API4}/Contact/get?_=1712&select[]=id", dialect=lenient)
    assert reads(ops) == {("Contact", "get"): {"id"}}
    assert any("'_'" in text for text in lenient.weakenings)
    with pytest.raises(BadRequest):
        identify("GET", f"{API4}/Contact/get?_=1712")


def test_autocomplete_field_parameters_are_reads_and_a_saved_search_is_opaque() -> None:
    ops = identify("GET", f"{API4}/Contact/autocomplete?" + params({"searchField": "api_key", "input": "a"}))
    assert "api_key" in reads(ops)[("Contact", "autocomplete")]
    ops = identify("GET", f"{API4}/Contact/autocomplete?savedSearch=Secret_Search")
    assert (OPAQUE, "Contact.savedSearch:Secret_Search") in reads(ops)


@pytest.mark.parametrize("action", sorted(ACTION_PARAMS))
def test_every_parameter_an_action_accepts_has_a_shape(action: str) -> None:
    for name, shape in ACTION_PARAMS[action].items():
        assert isinstance(shape, Shape)
        sample: Any = 1 if shape in (Shape.SCALAR, Shape.OPAQUE, Shape.DATA) else []
        check_params(action, {name: sample})
