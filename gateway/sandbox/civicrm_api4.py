"""``civicrm_api4(entity, action, params)`` over the sandbox store, answering in the real shapes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gateway.sandbox.civicrm_query import query
from gateway.sandbox.civicrm_store import FIELDS, REQUIRED, ApiError, CiviStore

V4_ACTIONS: Mapping[str, str] = {
    name.lower(): name for name in ("get", "create", "update", "save", "delete", "getFields", "getActions")
}
_V4_COMMON = frozenset({"checkPermissions", "debug", "language", "chain"})
_V4_PARAMS: Mapping[str, frozenset[str]] = {
    "get": frozenset({"select", "where", "orderBy", "limit", "offset", "join", "groupBy", "having"}),
    "create": frozenset({"values", "reload"}),
    "update": frozenset({"values", "where", "reload", "orderBy", "limit"}),
    "save": frozenset({"records", "defaults", "reload", "match"}),
    "delete": frozenset({"where", "orderBy", "limit"}),
    "getFields": frozenset({"select", "where", "action", "loadOptions", "values"}),
    "getActions": frozenset({"select", "where"}),
}
_V4_TYPES = {"int": "Integer", "str": "String", "bool": "Boolean", "money": "Money"}


def v4_accepts(action: str) -> frozenset[str] | None:
    """The parameters ``getActions`` lists for the action of exactly that name, or None."""
    params = _V4_PARAMS.get(action)
    return None if params is None else _V4_COMMON | params


def v4_call(store: CiviStore, entity: str, action: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``civicrm_api4(entity, action, params)`` as the AJAX page renders a success; raises ApiError."""
    name = V4_ACTIONS.get(action.lower())  # PHP method names are case-insensitive
    if entity not in FIELDS or name is None:
        raise ApiError(f"API ({entity}, {action}) does not exist (join the API team and implement it!)")
    for key in params:
        if key not in _V4_COMMON and key not in _V4_PARAMS[name]:
            raise ApiError(f"Unknown api parameter: {key}")
    values = _V4_HANDLERS[name](store, entity, params)
    return {
        "values": values,
        "entity": entity,
        "action": name,
        "debug": None,
        "version": 4,
        "count": len(values),
        "countFetched": len(values),
    }


def _get(store: CiviStore, entity: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    select = [s for s in params.get("select") or [] if s != "*"]
    rows = query(store, entity, params)
    if not select:
        return rows
    return [{s: store.resolve(r, s) for s in select} for r in rows]


def _values(params: Mapping[str, Any], name: str = "values") -> dict[str, Any]:
    values = params.get(name)
    if not isinstance(values, dict):
        raise ApiError(f"Parameter '{name}' must be an object")
    return values


def _create(store: CiviStore, entity: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    values = _values(params)
    missing = [f for f in REQUIRED[entity] if values.get(f) in (None, "")]
    if missing:
        raise ApiError(f"Mandatory values missing from Api4 {entity}::create: {', '.join(missing)}")
    return [store.create(entity, {k: v for k, v in values.items() if k != "id"})]


def _update(store: CiviStore, entity: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    values = _values(params)
    if "id" in values:
        params = {**params, "where": [*(params.get("where") or []), ["id", "=", values["id"]]]}
    elif not params.get("where"):
        raise ApiError('Parameter "where" is required unless an id is supplied in values.')
    return [store.update(entity, row["id"], values) for row in query(store, entity, params)]


def _save(store: CiviStore, entity: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    records = params.get("records")
    if not isinstance(records, list):
        raise ApiError("Parameter 'records' must be a list")
    defaults = params.get("defaults") or {}
    out: list[dict[str, Any]] = []
    for record in records:
        merged = {**defaults, **record} if isinstance(record, dict) else {}
        if merged.get("id") and store.get(entity, int(merged["id"])) is not None:
            out.append(store.update(entity, int(merged["id"]), merged))
        else:
            out.extend(_create(store, entity, {"values": merged}))
    return out


def _delete(store: CiviStore, entity: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    if not params.get("where"):
        raise ApiError(f'Cannot delete {entity} with no "where" parameter specified')
    rows = query(store, entity, params)
    for row in rows:
        store.delete(entity, row["id"])
    return [{"id": row["id"]} for row in rows]


def _get_fields(store: CiviStore, entity: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {"name": f, "type": "Field", "data_type": _V4_TYPES[k], "entity": entity}
        for f, k in FIELDS[entity].items()
    ]


def _get_actions(store: CiviStore, entity: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"name": name} for name in V4_ACTIONS.values()]


_V4_HANDLERS: Mapping[str, Callable[[CiviStore, str, Mapping[str, Any]], list[dict[str, Any]]]] = {
    "get": _get,
    "create": _create,
    "update": _update,
    "save": _save,
    "delete": _delete,
    "getFields": _get_fields,
    "getActions": _get_actions,
}
