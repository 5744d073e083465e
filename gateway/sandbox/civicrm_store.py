"""The sandbox CiviCRM site's configuration and its small in-memory database.

Records live in one :class:`CiviStore` per app: a Contact (with its ``api_key``), an Email and, for a
contact with a CMS account, a UFMatch for every configured contact, plus a few Activities,
Contributions, Groups and GroupContacts.
:func:`v3_call` and :func:`v4_call` are the two APIs over it, answering in the real shapes.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_FLOW_CREDS: Mapping[str, tuple[str, ...]] = {
    # civicrm-core ext/authx/settings/authx.setting.php: every flow defaults to ['jwt'], these to both.
    "xheader": ("jwt", "api_key"),
    "header": ("jwt", "api_key"),
    "param": ("jwt", "api_key"),
    "legacyrest": ("jwt", "api_key"),
    "auto": ("jwt",),
    "login": ("jwt",),
}
DEFAULT_FLOW_USERS: Mapping[str, str] = {"legacyrest": "require"}
"""``authx_<flow>_user``: 'optional' unless listed ('require' or 'ignore')."""


@dataclass
class SandboxContact:
    id: int
    api_key: str | None
    display_name: str
    email: str = ""
    has_cms_user: bool = True
    permissions: frozenset[str] = frozenset()
    username: str | None = None
    password: str | None = None
    external_identifier: str | None = None
    extra_emails: tuple[str, ...] = ()

    @property
    def user_id(self) -> int | None:
        """The CMS user id (UFMatch) of this contact, if it has a CMS account."""
        return 1000 + self.id if self.has_cms_user else None

    def __repr__(self) -> str:
        return f"SandboxContact(id={self.id}, display_name={self.display_name!r}, user={self.has_cms_user})"


@dataclass
class CiviSandboxConfig:
    site_key: str
    sign_keys: str
    contacts: list[SandboxContact]
    authx_guards: tuple[str, ...] = ("site_key", "perm")
    authx_flow_creds: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_FLOW_CREDS))
    delay_seconds: float = 0.0
    authx_flow_users: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_FLOW_USERS))
    clock: Callable[[], float] = time.time

    def contact(self, contact_id: int) -> SandboxContact | None:
        return next((c for c in self.contacts if c.id == contact_id), None)

    def __repr__(self) -> str:
        return f"CiviSandboxConfig(contacts={len(self.contacts)}, guards={self.authx_guards})"


class ApiError(Exception):
    """An API failure: v3 renders it as ``is_error``, v4 as ``error_message`` with ``status``."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


FIELDS: Mapping[str, Mapping[str, str]] = {
    "Contact": {
        "id": "int",
        "contact_type": "str",
        "display_name": "str",
        "first_name": "str",
        "last_name": "str",
        "email": "str",
        "api_key": "str",
        "external_identifier": "str",
        "is_deleted": "bool",
    },
    "Email": {
        "id": "int",
        "contact_id": "int",
        "email": "str",
        "is_primary": "bool",
        "location_type_id": "int",
    },
    "Activity": {
        "id": "int",
        "activity_type_id": "int",
        "subject": "str",
        "source_contact_id": "int",
        "status_id": "int",
        "activity_date_time": "str",
    },
    "Contribution": {
        "id": "int",
        "contact_id": "int",
        "financial_type_id": "int",
        "total_amount": "money",
        "currency": "str",
        "receive_date": "str",
        "contribution_status_id": "int",
    },
    "Group": {"id": "int", "name": "str", "title": "str", "is_active": "bool"},
    "GroupContact": {"id": "int", "group_id": "int", "contact_id": "int", "status": "str"},
    "UFMatch": {"id": "int", "domain_id": "int", "uf_id": "int", "uf_name": "str", "contact_id": "int"},
}
REQUIRED: Mapping[str, tuple[str, ...]] = {
    "Contact": ("contact_type",),
    "Email": ("contact_id", "email"),
    "Activity": ("activity_type_id", "source_contact_id"),
    "Contribution": ("contact_id", "financial_type_id", "total_amount"),
    "Group": ("title",),
    "GroupContact": ("group_id", "contact_id"),
    "UFMatch": ("uf_id", "contact_id"),
}
FOREIGN_KEYS: Mapping[str, str] = {
    "contact_id": "Contact",
    "source_contact_id": "Contact",
    "group_id": "Group",
}


class CiviStore:
    def __init__(self, contacts: Sequence[SandboxContact]) -> None:
        self._rows: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in FIELDS}
        self._next: dict[str, int] = dict.fromkeys(FIELDS, 1)
        for c in contacts:
            first, _, last = c.display_name.partition(" ")
            self.create(
                "Contact",
                {
                    "id": c.id,
                    "contact_type": "Individual",
                    "display_name": c.display_name,
                    "first_name": first,
                    "last_name": last,
                    "email": c.email,
                    "api_key": c.api_key,
                    "external_identifier": c.external_identifier,
                    "is_deleted": False,
                },
            )
            for n, email in enumerate(e for e in (c.email, *c.extra_emails) if e):
                self.create(
                    "Email", {"contact_id": c.id, "email": email, "is_primary": n == 0, "location_type_id": 1}
                )
            if c.user_id is not None:
                uf_name = c.username or c.email or f"user{c.user_id}"
                self.create(
                    "UFMatch", {"domain_id": 1, "uf_id": c.user_id, "uf_name": uf_name, "contact_id": c.id}
                )
        self.create("Group", {"name": "Newsletter", "title": "Newsletter subscribers", "is_active": True})
        self.create("Group", {"name": "Volunteers", "title": "Volunteers", "is_active": True})
        for n, c in enumerate(contacts[:3]):
            self.create("GroupContact", {"group_id": 1, "contact_id": c.id, "status": "Added"})
            self.create(
                "Activity",
                {
                    "activity_type_id": 1,
                    "subject": f"Meeting #{n + 1}",
                    "source_contact_id": c.id,
                    "status_id": 2,
                    "activity_date_time": f"2024-0{n + 1}-15 10:00:00",
                },
            )
            self.create(
                "Contribution",
                {
                    "contact_id": c.id,
                    "financial_type_id": 1,
                    "total_amount": 25.0 * (n + 1),
                    "currency": "EUR",
                    "receive_date": f"2024-0{n + 1}-20 00:00:00",
                    "contribution_status_id": 1,
                },
            )

    def all(self, entity: str) -> list[dict[str, Any]]:
        return [dict(row) for row in self._rows[entity].values()]

    def get(self, entity: str, record_id: int) -> dict[str, Any] | None:
        row = self._rows[entity].get(record_id)
        return dict(row) if row is not None else None

    def create(self, entity: str, values: Mapping[str, Any]) -> dict[str, Any]:
        record_id = int(values.get("id") or self._next[entity])
        self._next[entity] = max(self._next[entity], record_id + 1)
        row: dict[str, Any] = dict.fromkeys(FIELDS[entity])
        row.update({k: coerce(entity, k, v) for k, v in values.items() if k in FIELDS[entity]})
        row["id"] = record_id
        self._rows[entity][record_id] = row
        return dict(row)

    def update(self, entity: str, record_id: int, values: Mapping[str, Any]) -> dict[str, Any]:
        row = self._rows[entity][record_id]
        row.update({k: coerce(entity, k, v) for k, v in values.items() if k in FIELDS[entity] and k != "id"})
        return dict(row)

    def delete(self, entity: str, record_id: int) -> bool:
        return self._rows[entity].pop(record_id, None) is not None

    def resolve(self, record: Mapping[str, Any], path: str) -> Any:
        """A field value, following ``fk_id.field`` implicit joins (``contact_id.display_name``)."""
        head, _, rest = path.partition(".")
        value = record.get(head)
        if not rest:
            return value
        target = FOREIGN_KEYS.get(head)
        joined = self.get(target, int(value)) if target and value is not None else None
        return self.resolve(joined, rest) if joined is not None else None


def field_kind(entity: str, path: str) -> str:
    head, _, rest = path.partition(".")
    if rest and head in FOREIGN_KEYS:
        return field_kind(FOREIGN_KEYS[head], rest)
    return FIELDS.get(entity, {}).get(head, "str")


def coerce(entity: str, name: str, value: Any) -> Any:
    kind = field_kind(entity, name)
    if value is None or (value == "" and kind != "str"):
        return None
    try:
        if kind == "int":
            return int(value)
        if kind == "money":
            return float(value)
        if kind == "bool":
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true")
    except (TypeError, ValueError):
        raise ApiError(f"{name} is not a valid {kind}") from None
    return value if isinstance(value, str) else str(value)


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


def _where(store: CiviStore, entity: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
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


def _get(store: CiviStore, entity: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    select = [s for s in params.get("select") or [] if s != "*"]
    rows = _where(store, entity, params)
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
    return [store.update(entity, row["id"], values) for row in _where(store, entity, params)]


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
    rows = _where(store, entity, params)
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
    return _where(store, entity, {"where": where, "limit": limit, "offset": offset, "orderBy": order})


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
