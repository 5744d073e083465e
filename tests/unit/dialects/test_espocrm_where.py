"""EspoCRM where items and list parameters: every type the server knows, links as reads, the rest refused."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.dialects.credentials import TOKEN_PARAMS
from gateway.dialects.espocrm.where import ATTRIBUTE_TYPES, LINK_TYPES, list_reads, where_reads
from gateway.errors import BadRequest


@pytest.mark.parametrize("kind", sorted(ATTRIBUTE_TYPES))
def test_attribute_types_read_their_attribute(kind: str) -> None:
    assert where_reads([{"type": kind, "attribute": "status", "value": "x"}]) == {"status"}
    assert where_reads([{"type": kind, "attribute": "account.name"}]) == {"account.name"}


@pytest.mark.parametrize("kind", sorted(LINK_TYPES))
def test_link_types_read_the_linked_entity(kind: str) -> None:
    assert where_reads([{"type": kind, "attribute": "opportunities", "value": ["o1"]}]) == {
        "opportunities.id"
    }
    assert where_reads([{"type": kind, "field": "opportunities"}]) == {"opportunities.id"}


@pytest.mark.parametrize("group", ["and", "or", "not", "subQueryIn", "subQueryNotIn"])
def test_groups_are_walked(group: str) -> None:
    inner = [{"type": "isLinked", "attribute": "cases"}, {"type": "equals", "attribute": "name", "value": 1}]
    assert where_reads([{"type": group, "value": inner}]) == {"cases.id", "name"}
    as_php = {"0": {"type": group, "value": {"0": inner[0]}}}
    assert where_reads(as_php) == {"cases.id"}


def test_attribute_wins_over_field_as_in_item_from_raw() -> None:
    assert where_reads([{"type": "isLinked", "attribute": "cases", "field": "name"}]) == {"cases.id"}


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ([{"type": "frobnicate", "attribute": "x"}], "unknown-where-type"),
        ([{"type": "expression", "attribute": "CONCAT:(a,b)"}], "bad-where"),
        ([{"attribute": "x"}], "bad-where"),
        ([{"type": "equals", "attribute": "x", "extra": 1}], "bad-where"),
        ([{"type": "equals", "attribute": "`x`"}], "bad-where"),
        ([{"type": "equals", "attribute": "a.b.c"}], "bad-where"),
        ([{"type": "or", "value": {"1": {"type": "isNull", "attribute": "x"}}}], "bad-where"),
        (["x"], "bad-where"),
    ],
)
def test_refused(where: Any, reason: str) -> None:
    with pytest.raises(BadRequest) as caught:
        where_reads(where)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("pairs", "fields"),
    [
        (
            [("select", "a,b"), ("orderBy", "c"), ("order", "desc"), ("maxSize", "5"), ("offset", "0")],
            {"a", "b", "c"},
        ),
        ([("attributeSelect", "a"), ("sortBy", "b"), ("asc", "true")], {"a", "b"}),
        ([("q", "x"), ("textFilter", "y"), ("primaryFilter", "p"), ("boolFilterList[]", "onlyMy")], set()),
        ([("filterList[]", "f"), ("api_key", "gateway-token")], set()),
        (
            [("searchParams", '{"select":["a"],"where":[{"type":"isLinked","attribute":"cases"}]}')],
            {"a", "cases.id"},
        ),
    ],
)
def test_list_parameters(pairs: list[tuple[str, str]], fields: set[str]) -> None:
    assert list_reads(pairs, TOKEN_PARAMS) == fields


def test_a_token_parameter_is_tolerated_only_when_the_dialect_is_told() -> None:
    with pytest.raises(BadRequest, match="Unknown list parameter 'api_key'"):
        list_reads([("api_key", "gateway-token")])


@pytest.mark.parametrize(
    ("pairs", "reason"),
    [
        ([("frobnicate", "1")], "unknown-parameter"),
        ([("searchParams", "{}"), ("maxSize", "5")], "ambiguous-parameter"),
        ([("searchParams", '{"bogus":1}')], "unknown-parameter"),
        ([("select[]", "a")], "ambiguous-parameter"),
    ],
)
def test_list_parameters_refused(pairs: list[tuple[str, str]], reason: str) -> None:
    with pytest.raises(BadRequest) as caught:
        list_reads(pairs)
    assert caught.value.reason == reason


def test_an_upstream_may_let_a_named_list_parameter_through() -> None:
    assert list_reads([("_", "1712")], frozenset({"_"})) == set()
