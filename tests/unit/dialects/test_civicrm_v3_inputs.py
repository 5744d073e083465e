"""APIv3 inputs that hold field names or nested calls: getlist, getvalue, getoptions, getfield(s),
``return`` forms, ``options.sort`` expressions, routing and credentials inside ``json`` or a JSON body."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.errors import BadRequest
from tests.unit.dialects.test_civicrm_v3 import AJAX, WP, fields, identify, q, summary


def get(**params: Any) -> list[Any]:
    return identify("GET", AJAX + q(**params))


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"action": "getlist", "search_field": "api_key", "input": "a"}, "api_key"),
        ({"action": "getlist", "label_field": "api_key"}, "api_key"),
        ({"action": "getlist", "description_field": ["display_name", "api_key"]}, "api_key"),
        ({"action": "getlist", "id_field": "api_key"}, "api_key"),
        ({"action": "getlist", "extra": ["api_key"]}, "api_key"),
        ({"action": "getlist", "image_field": "api_key"}, "api_key"),
        ({"action": "getvalue", "return": "api_key", "id": 2}, "api_key"),
        ({"action": "getoptions", "field": "api_key"}, "api_key"),
        ({"action": "getfield", "name": "api_key"}, "api_key"),
        ({"action": "getfields", "name": "api_key"}, "api_key"),
    ],
)
def test_field_names_given_as_values_are_reads(params: dict[str, Any], field: str) -> None:
    action = params.pop("action")
    ops = get(entity="Contact", action=action, json=params)
    assert field in fields(ops, "Contact", action)


def test_getlist_parameters_that_are_not_filters_are_not_fields() -> None:
    ops = get(entity="Contact", action="getlist", input="ab", page_num=2, json=1)
    assert fields(ops, "Contact", "getlist") == set()


def test_getlist_runs_a_get_on_its_nested_params_chains_included() -> None:
    nested = {
        "params": {"contact_type": "Individual", "api.Activity.get": {}, "options": {"sort": "api_key"}}
    }
    ops = get(entity="Contact", action="getlist", json=nested)
    assert summary(ops) == [
        ("Contact", "getlist", "route"),
        ("Contact", "get", "getlist:params"),
        ("Activity", "get", "getlist:params/chain:api.Activity.get"),
    ]
    assert fields(ops, "Contact", "get") == {"contact_type", "api_key"}


def test_getlist_nested_params_from_php_brackets() -> None:
    ops = identify("GET", AJAX + "?entity=Contact&action=getlist&params[api.Note.delete][id]=1")
    assert ("Note", "delete", "getlist:params/chain:api.Note.delete") in summary(ops)


@pytest.mark.parametrize(
    "sort",
    [
        "field(api_key,1)",
        "`api_key` DESC",
        "`contact_a`.`api_key` DESC",
        "contact_a.api_key",
        "api_key DESC, (1)",
    ],
)
def test_sort_expressions_the_gateway_cannot_resolve_are_refused(sort: str) -> None:
    for params in ({"options": {"sort": sort}}, {"sort": sort}):
        with pytest.raises(BadRequest) as caught:
            get(entity="Contact", action="get", json=params)
        assert caught.value.reason == "bad-sort"


def test_plain_sorts_and_return_forms_pass_and_are_read() -> None:
    ops = get(
        entity="Contact", action="get", json={"options": {"sort": "sort_name ASC, id"}, "return": ["email"]}
    )
    assert fields(ops, "Contact", "get") == {"sort_name", "id", "email"}


@pytest.mark.parametrize("value", ["display_name,`api_key`", ["field(api_key,1)"], {"0": "a b"}])
def test_return_values_that_are_not_field_names_are_refused(value: Any) -> None:
    with pytest.raises(BadRequest) as caught:
        get(entity="Contact", action="get", json={"return": value})
    assert caught.value.reason == "bad-field"


@pytest.mark.parametrize("inner", [{"entity": "Activity"}, {"action": "delete"}])
def test_json_naming_an_entity_or_action_is_an_ambiguous_route(inner: dict[str, str]) -> None:
    with pytest.raises(BadRequest) as caught:
        get(entity="Contact", action="get", json=inner)
    assert caught.value.reason == "ambiguous-route"


@pytest.mark.parametrize("name", ["api_key", "key", "_authx", "_authxSiteKey"])
def test_credentials_inside_json_or_a_wordpress_json_body_are_refused(name: str) -> None:
    with pytest.raises(BadRequest) as caught:
        get(entity="Contact", action="get", json={name: "x"})
    assert caught.value.reason == "credential-in-body"
    body = json.dumps({"entity": "Contact", "action": "get", name: "x"}).encode()
    with pytest.raises(BadRequest) as caught:
        identify("POST", WP, content_type="application/json", body=body)
    assert caught.value.reason == "credential-in-body"


@pytest.mark.parametrize("action", ["frobnicate", "get_single", "DoSomething"])
def test_unknown_actions_are_refused(action: str) -> None:
    with pytest.raises(BadRequest) as caught:
        identify("POST", AJAX, [("entity", "Contact"), ("action", action), ("json", "1")])
    assert caught.value.reason == "unknown-action"
    with pytest.raises(BadRequest):
        get(entity="Contact", action="get", json={f"api.Email.{action}": {}})


@pytest.mark.parametrize(
    ("entity", "action", "expected"),
    [("contact", "getsingle", ("Contact", "getsingle")), ("email", "getcount", ("Email", "getcount"))],
)
def test_legitimate_lowercase_and_single_count_calls_pass(entity: str, action: str, expected: Any) -> None:
    ops = get(entity=entity, action=action, json={"id": 2})
    assert summary(ops)[0][:2] == expected


@pytest.mark.parametrize(
    "params",
    [
        {"json": {"options": {"return": ["api_key"]}}},
        {"options.return": "api_key"},
        {"json": {"options": {"return": "id,api_key"}}},
    ],
)
def test_options_return_is_a_field_read(params: dict[str, Any]) -> None:
    assert "api_key" in fields(get(entity="Contact", action="get", **params), "Contact", "get")
