"""Bracket indexes a client controls never crash the PHP parameter parser: PHP makes a key an integer
only for a canonical decimal in its int range, anything else stays a string key."""

from __future__ import annotations

import pytest

from gateway.dialects.civicrm.routes import php_parse
from gateway.errors import BadRequest

HUGE = "9" * 5000


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([("a[²]", "1"), ("a[]", "2")], {"a": {"²": "1", "0": "2"}}),
        ([("a[٣]", "1"), ("a[]", "2")], {"a": {"٣": "1", "0": "2"}}),
        ([(f"a[{HUGE}]", "1"), ("a[]", "2")], {"a": {HUGE: "1", "0": "2"}}),
        ([("a[9223372036854775808]", "1"), ("a[]", "2")], {"a": {"9223372036854775808": "1", "0": "2"}}),
        ([("a[7]", "1"), ("a[]", "2")], {"a": {"7": "1", "8": "2"}}),
        ([("a[07]", "1"), ("a[]", "2")], {"a": {"07": "1", "0": "2"}}),
    ],
    ids=["superscript", "arabic-indic", "5000-digits", "past-int64", "plain", "leading-zero"],
)
def test_next_index_counts_only_php_integer_keys(
    items: list[tuple[str, str]], expected: dict[str, object]
) -> None:
    assert php_parse(items) == expected


@pytest.mark.parametrize(
    "items",
    [
        [("a[-5]", "1"), ("a[]", "2")],  # PHP 8.3 appends at -4, older PHP at 0
        [("a[3]", "1"), ("a[-1]", "2"), ("a[]", "3")],
        [("a[x][-2]", "1"), ("a[x][]", "2")],
        [("a[9223372036854775807]", "1"), ("a[]", "2")],  # PHP drops the value
    ],
    ids=["after-negative", "negative-among-positive", "nested", "after-int-max"],
)
def test_appends_php_versions_number_differently_are_refused(items: list[tuple[str, str]]) -> None:
    with pytest.raises(BadRequest) as refused:
        php_parse(items)
    assert refused.value.reason == "ambiguous-parameter"


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([("a[-5]", "1"), ("a[2]", "2")], {"a": {"-5": "1", "2": "2"}}),  # no append: every PHP agrees
        ([("a[-0]", "1"), ("a[]", "2")], {"a": {"-0": "1", "0": "2"}}),  # "-0" is a string key
    ],
)
def test_negative_keys_without_an_append_are_read(
    items: list[tuple[str, str]], expected: dict[str, object]
) -> None:
    assert php_parse(items) == expected
