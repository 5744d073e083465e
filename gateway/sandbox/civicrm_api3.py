"""``civicrm_api3(entity, action, params)`` over the sandbox store, answering in the real shapes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gateway.sandbox.civicrm_query import query
from gateway.sandbox.civicrm_store import FIELDS, REQUIRED, ApiError, CiviStore

V3_ENTITIES: Mapping[str, str] = {name.lower(): name for name in FIELDS}
_V3_TYPES = {"int": 1, "str": 2, "bool": 16, "money": 1024}


def v3_call(store: CiviStore, entity: str, action: str, params: Mapping[str, Any]) -> Any:
    """``civicrm_api3(entity, action, params)``: a result array (``is_error`` 1 on failure) or a scalar.

    Entity names ignore case and underscores, actions are lower-cased. Values come back as strings and
    NULL fields are left out, as v3 does. Chained ``api.*`` calls are not executed.
    """
    name = V3_ENTITIES.get(entity.lower().replace("_", ""))
    handler = _V3_HANDLERS.get(action.lower())
    if name is None or handler is None:
        return v3_error(f"API ({entity}, {action}) does not exist (join the API team and implement it!)")
    try:
        return handler(store, name, params)
    except ApiError as error:
        return v3_error(error.message)


def v3_error(message: str, **extra: Any) -> dict[str, Any]:
    return {"is_error": 1, "error_message": message, **extra}


def _v3_rows(
    store: CiviStore, entity: str, params: Mapping[str, Any], limit: int = 25
) -> list[dict[str, Any]]:
    where: list[list[Any]] = []
    for name in FIELDS[entity]:
        value = params.get(name)
        if value is None and entity == "Contact" and name == "id":
            value = params.get("contact_id")
        if isinstance(value, dict) and len(value) == 1:
            op, operand = next(iter(value.items()))
            where.append([name, op, list(operand.values()) if isinstance(operand, dict) else operand])
        elif value is not None:
            where.append([name, "=", value])
    options = params.get("options") if isinstance(params.get("options"), dict) else {}
    assert isinstance(options, dict)
    order = {}
    for part in php_text(options.get("sort")).split(","):
        column, _, direction = part.strip().partition(" ")
        if column:
            order[column] = direction or "ASC"
    try:
        limit, offset = int(options.get("limit", limit)), int(options.get("offset", 0))
    except (TypeError, ValueError):
        raise ApiError("options.limit and options.offset must be integers") from None
    return query(store, entity, {"where": where, "limit": limit, "offset": offset, "orderBy": order})


def php_text(value: Any) -> str:
    return "" if value is None else "1" if value is True else "" if value is False else str(value)


def _v3_record(entity: str, row: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, str]:
    wanted = params.get("return")
    if isinstance(wanted, dict | list):
        names = {php_text(n) for n in (wanted.values() if isinstance(wanted, dict) else wanted)}
    else:
        names = {n.strip() for n in php_text(wanted).split(",") if n.strip()}
    names |= {key[7:] for key in params if key.startswith("return.")}
    record = {
        k: _v3_text(v) for k, v in row.items() if v is not None and (not names or k in names or k == "id")
    }
    if entity == "Contact":
        record["contact_id"] = record["id"]
    return record


def _v3_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _v3_result(entity: str, rows: list[dict[str, Any]], params: Mapping[str, Any]) -> dict[str, Any]:
    records = [_v3_record(entity, row, params) for row in rows]
    result: dict[str, Any] = {"is_error": 0, "version": 3, "count": len(records)}
    if len(records) == 1:
        result["id"] = int(records[0]["id"])
    sequential = php_text(params.get("sequential")) not in ("", "0")
    result["values"] = records if sequential else {r["id"]: r for r in records}
    return result


def _v3_get(store: CiviStore, entity: str, params: Mapping[str, Any]) -> Any:
    return _v3_result(entity, _v3_rows(store, entity, params), params)


def _v3_getsingle(store: CiviStore, entity: str, params: Mapping[str, Any]) -> Any:
    rows = _v3_rows(store, entity, params)
    if len(rows) != 1:
        return v3_error(f"Expected one {entity} but found {len(rows)}")
    return _v3_record(entity, rows[0], params)


def _v3_getcount(store: CiviStore, entity: str, params: Mapping[str, Any]) -> Any:
    return len(_v3_rows(store, entity, params, limit=0))


def _v3_getvalue(store: CiviStore, entity: str, params: Mapping[str, Any]) -> Any:
    field_name = php_text(params.get("return"))
    rows = _v3_rows(store, entity, params)
    if field_name not in FIELDS[entity] or len(rows) != 1:
        return v3_error(f"Expected one {entity} but found {len(rows)}")
    return _v3_record(entity, rows[0], {}).get(field_name, "")


def _v3_create(store: CiviStore, entity: str, params: Mapping[str, Any]) -> Any:
    values = {k: v for k, v in params.items() if k in FIELDS[entity] and not isinstance(v, dict | list)}
    if values.get("id"):
        if store.get(entity, int(values["id"])) is None:
            return v3_error(f"Invalid {entity} id: {values['id']}")
        row = store.update(entity, int(values["id"]), values)
    else:
        missing = [f for f in REQUIRED[entity] if values.get(f) in (None, "")]
        if missing:
            return v3_error(f"Mandatory key(s) missing from params array: {', '.join(missing)}")
        row = store.create(entity, {k: v for k, v in values.items() if k != "id"})
    return _v3_result(entity, [row], params)


def _v3_delete(store: CiviStore, entity: str, params: Mapping[str, Any]) -> Any:
    record_id = params.get("id")
    if php_text(record_id) in ("", "0"):
        return v3_error("Mandatory key(s) missing from params array: id")
    if not php_text(record_id).isdigit() or not store.delete(entity, int(php_text(record_id))):
        return v3_error(f"Could not delete {entity}")
    return {"is_error": 0, "version": 3, "count": 1, "values": 1}


def _v3_getfields(store: CiviStore, entity: str, params: Mapping[str, Any]) -> Any:
    values = {
        f: {"name": f, "type": _V3_TYPES[k], "title": f.replace("_", " ").title()}
        for f, k in FIELDS[entity].items()
    }
    return {"is_error": 0, "version": 3, "count": len(values), "values": values}


def _v3_getactions(store: CiviStore, entity: str, params: Mapping[str, Any]) -> Any:
    return {"is_error": 0, "version": 3, "count": len(_V3_HANDLERS), "values": sorted(_V3_HANDLERS)}


_V3_HANDLERS: Mapping[str, Callable[[CiviStore, str, Mapping[str, Any]], Any]] = {
    "get": _v3_get,
    "getsingle": _v3_getsingle,
    "getcount": _v3_getcount,
    "getvalue": _v3_getvalue,
    "create": _v3_create,
    "delete": _v3_delete,
    "getfields": _v3_getfields,
    "getactions": _v3_getactions,
}
