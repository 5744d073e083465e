"""The sandbox EspoCRM's search conditions: ``where``/``whereGroup`` (PHP brackets) or a ``searchParams``
JSON, read as ``SearchParamsFetcher`` and ``Where\\Item::fromRaw`` read them, evaluated for the item types
the sandbox implements; any other type is a 400, as an unknown type is on the real server."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gateway.dialects.phpparams import php_parse

Record = dict[str, Any]
_ITEM_KEYS = frozenset({"type", "attribute", "field", "value", "dateTime", "date", "timeZone"})


class WhereError(Exception):
    """``BadRequest`` on the real server."""


def _text(value: Any) -> str:
    return "" if value is None else str(value)


_TESTS: Mapping[str, Callable[[Any, Any], bool]] = {
    "equals": lambda have, want: _text(have) == _text(want),
    "notEquals": lambda have, want: _text(have) != _text(want),
    "isNull": lambda have, _: have in (None, ""),
    "isNotNull": lambda have, _: have not in (None, ""),
    "isTrue": lambda have, _: have is True,
    "isFalse": lambda have, _: have is not True,
    "startsWith": lambda have, want: _text(have).lower().startswith(_text(want).lower()),
    "endsWith": lambda have, want: _text(have).lower().endswith(_text(want).lower()),
    "contains": lambda have, want: _text(want).lower() in _text(have).lower(),
    "in": lambda have, want: _text(have) in [_text(v) for v in _values(want)],
    "notIn": lambda have, want: _text(have) not in [_text(v) for v in _values(want)],
}


def _values(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return list(value.values())
    return value if isinstance(value, list) else [value]


def _items(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and list(value) == [str(i) for i in range(len(value))]:
        return list(value.values())
    raise WhereError("Bad 'value'.")


def _match(record: Record, item: Any) -> bool:
    if not isinstance(item, dict) or not item.get("type"):
        raise WhereError("No 'type' in where item.")
    unknown = set(item) - _ITEM_KEYS
    if unknown:
        raise WhereError(f"Unknown parameter '{sorted(unknown)[0]}'.")
    kind = item["type"]
    if kind in ("and", "or", "not"):
        results = [_match(record, sub) for sub in _items(item.get("value"))]
        return any(results) if kind == "or" else (not all(results) if kind == "not" else all(results))
    test = _TESTS.get(kind)
    if test is None:
        raise WhereError(f"Sandbox supports no '{kind}' where items.")
    attribute = item.get("attribute") or item.get("field")
    if not attribute:
        raise WhereError("No 'attribute' in where item.")
    return test(record.get(str(attribute)), item.get("value"))


def search_params(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The raw search params: the decoded ``searchParams`` JSON when given, else the query's own."""
    query = php_parse(pairs)
    if "searchParams" in query:
        try:
            decoded = json.loads(str(query["searchParams"]))
        except ValueError:
            raise WhereError("Invalid search params JSON.") from None
        if not isinstance(decoded, dict):
            raise WhereError("Invalid search params JSON.")
        return decoded
    where = query.get("whereGroup", query.get("where"))
    params = {k: v for k, v in query.items() if k not in ("where", "whereGroup")}
    params["where"] = where if isinstance(where, dict | list) else None
    params["select"] = query.get("attributeSelect") or query.get("select")
    params["orderBy"] = query.get("orderBy") or query.get("sortBy")
    return params


def matching(records: Iterable[Record], where: Any) -> list[Record]:
    items = _items(where)
    return [record for record in records if all(_match(record, item) for item in items)]
