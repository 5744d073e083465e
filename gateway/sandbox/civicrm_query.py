"""APIv4-style queries over the sandbox store: where clauses, ordering, offset and limit."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gateway.sandbox.civicrm_store import ApiError, CiviStore, coerce


def matches(store: CiviStore, entity: str, record: Mapping[str, Any], clause: Sequence[Any]) -> bool:
    """One APIv4-style where clause: ``[field, op, value]`` or ``["OR"|"AND"|"NOT", [clauses]]``."""
    if not clause or not isinstance(clause[0], str):
        raise ApiError("Invalid where clause")
    if clause[0] in ("OR", "AND", "NOT") and len(clause) == 2 and isinstance(clause[1], list):
        results = [matches(store, entity, record, sub) for sub in clause[1]]
        if clause[0] == "OR":
            return any(results)
        return all(results) if clause[0] == "AND" else not all(results)
    name, op = clause[0], str(clause[1]).upper() if len(clause) > 1 else "="
    actual = store.resolve(record, name)
    if op in ("IS NULL", "IS EMPTY"):
        return actual in (None, "")
    if op in ("IS NOT NULL", "IS NOT EMPTY"):
        return actual not in (None, "")
    if len(clause) < 3:
        raise ApiError(f"Invalid where clause for {name}")
    expected = clause[2]
    if op in ("IN", "NOT IN"):
        found = isinstance(expected, list) and any(_same(entity, name, actual, v) for v in expected)
        return found if op == "IN" else not found
    if op in ("LIKE", "NOT LIKE"):
        pattern = str(expected).replace("%", "*").replace("_", "?").lower()
        hit = actual is not None and fnmatch.fnmatchcase(str(actual).lower(), pattern)
        return hit if op == "LIKE" else not hit
    if op in ("=", "!=", "<>"):
        same = _same(entity, name, actual, expected)
        return same if op == "=" else not same
    if op in (">", ">=", "<", "<=") and actual is not None:
        want = coerce(entity, name, expected)
        return bool({">": actual > want, ">=": actual >= want, "<": actual < want, "<=": actual <= want}[op])
    if op in (">", ">=", "<", "<="):
        return False
    raise ApiError(f"Illegal operator {op!r}")


def _same(entity: str, name: str, actual: Any, expected: Any) -> bool:
    try:
        want = coerce(entity, name, expected)
    except ApiError:
        return False
    if isinstance(actual, str) and isinstance(want, str):
        return actual.lower() == want.lower()  # MySQL's case-insensitive collation
    return bool(actual == want)


def query(store: CiviStore, entity: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows ``where`` selects, sorted by ``orderBy``, then cut by ``offset`` and ``limit``."""
    clauses = params.get("where") or []
    if not isinstance(clauses, list) or not all(isinstance(c, list) for c in clauses):
        raise ApiError("Parameter 'where' must be a list of clauses")
    rows = [r for r in store.all(entity) if all(matches(store, entity, r, c) for c in clauses)]
    order = params.get("orderBy") or {}
    for key, direction in reversed(list(order.items()) if isinstance(order, dict) else []):
        rows.sort(key=_sort_key(store, key), reverse=str(direction).upper() == "DESC")
    offset, limit = int(params.get("offset") or 0), int(params.get("limit") or 0)
    return rows[offset : offset + limit] if limit else rows[offset:]


def _sort_key(store: CiviStore, path: str) -> Callable[[dict[str, Any]], tuple[bool, str]]:
    def key(row: dict[str, Any]) -> tuple[bool, str]:
        value = store.resolve(row, path)
        return (value is None, f"{value:020.4f}" if isinstance(value, int | float) else str(value).lower())

    return key
