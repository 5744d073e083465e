"""The sandbox CiviCRM's PHP request parsing: ``$_GET``/``$_POST`` names and nested arrays."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.sandbox.civicrm_php import php_parse


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([("k", "1"), ("k", "2")], {"k": "2"}),
        ([("api.Email.get", "1"), ("a b", "2")], {"api_Email_get": "1", "a_b": "2"}),
        ([("x[]", "1"), ("x[]", "2")], {"x": {"0": "1", "1": "2"}}),
        ([("options[limit]", "5"), ("options[sort]", "id")], {"options": {"limit": "5", "sort": "id"}}),
        ([("a[b][c]", "1")], {"a": {"b": {"c": "1"}}}),
    ],
)
def test_php_parameter_parsing(pairs: list[tuple[str, str]], expected: dict[str, Any]) -> None:
    assert php_parse(pairs) == expected
