"""Bracket indexes a client controls never crash the PHP parameter parser: PHP makes a key an integer
only for a canonical decimal in its int range, anything else stays a string key."""

from __future__ import annotations

import pytest

from gateway.dialects.civicrm.routes import php_parse

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
