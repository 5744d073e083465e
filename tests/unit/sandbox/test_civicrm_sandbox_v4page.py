"""The sandbox CiviCRM reads APIv4 query parameters as ``CRM_Api4_Page_AJAX::getParamsFromRequest`` does."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.sandbox.civicrm_v4page import php_list
from tests.unit.sandbox.test_civicrm_sandbox_api import AUTHX, Client, civi  # noqa: F401

API4 = "/civicrm/ajax/api4/Contact"


async def fetch(client: Client, target: str, status: int = 200) -> Any:
    response = await client.get(f"{API4}/{target}", headers=AUTHX)
    text = await response.text()
    assert response.status == status, text
    return json.loads(text) if status == 200 else text


async def test_query_keys_the_action_accepts_are_merged(civi: Client) -> None:  # noqa: F811
    body = await fetch(civi, "get?select[]=display_name&where[0][]=id&where[0][]=%3D&where[0][]=3")
    assert [row["display_name"] for row in body["values"]] == ["Bob Three"]
    body = await fetch(civi, "get?limit=1&offset=1&orderBy[id]=ASC")
    assert [row["id"] for row in body["values"]] == [3]


async def test_params_wins_over_the_query_and_other_keys_are_ignored(civi: Client) -> None:  # noqa: F811
    params = json.dumps({"where": [["id", "=", 2]]})
    body = await fetch(civi, f"get?params={params}&where[0][]=id&where[0][]=%3D&where[0][]=3&Where=x&bogus=1")
    assert [row["id"] for row in body["values"]] == [2]


async def test_an_action_name_get_actions_does_not_list_fails_with_query_keys(civi: Client) -> None:  # noqa: F811
    await fetch(civi, "GET?limit=1", status=500)
    await fetch(civi, "GET", status=200)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"0": "a", "1": "b"}, ["a", "b"]),
        ({"1": "a"}, {"1": "a"}),
        ({"0": {"0": "id", "1": "="}}, [["id", "="]]),
        ({"x": {"0": "Activity"}}, {"x": ["Activity"]}),
    ],
)
def test_php_arrays_keyed_in_order_are_lists(value: Any, expected: Any) -> None:
    assert php_list(value) == expected
