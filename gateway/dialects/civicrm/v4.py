"""APIv4: every (entity, action) an ``civicrm/ajax/api4`` request runs or reads.

Mirrors ``CRM_Api4_Page_AJAX``: one call from the route plus ``params`` (JSON), or a batch in
the POST field ``calls``. Inside a call, ``chain`` runs more calls, ``join`` and dotted field
names (``contact_id.display_name``) read other entities. A dotted name the dialect cannot
attribute becomes an opaque ``dotted:<Entity>.<prefix>`` operation, denied unless a policy
names it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from gateway.dialects.base import OPAQUE, Operation, RequestView
from gateway.dialects.civicrm.routes import AMBIGUOUS_PARAMETER, Kind, Route, Sources
from gateway.dialects.civicrm.schema import Schema
from gateway.dialects.civicrm.v3_params import decode_json, php_empty
from gateway.dialects.civicrm.v4_actions import FIELD_VALUED, Shape, canonical_action, check_params, params_of
from gateway.dialects.civicrm.v4_expr import expression_fields as expression_fields
from gateway.dialects.civicrm.v4_params import canonical_params, positional
from gateway.dialects.civicrm.v4_request import batch_call, check_batch, field_ref, index_fields, merge_query
from gateway.errors import BadRequest, Forbidden, GatewayError

MAX_DEPTH = 16
META_ACTIONS = frozenset({"getFields", "getActions", "getLinks"})
_GROUPS = frozenset({"AND", "OR", "NOT"})
_AS = re.compile(r"\s+AS\s+", re.I)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _entity(schema: Schema, raw: str, what: str) -> str:
    if not _NAME.fullmatch(raw):
        raise BadRequest(f"Not an APIv4 entity name in {what}", reason="bad-entity")
    return schema.v4_entity(raw)


def values_of(value: Any) -> list[Any]:
    """A PHP array's values in order (JSON list or object); nothing for a scalar."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return []


def item(value: Any, index: int) -> Any:
    """``$array[index]`` for a JSON list or an object with numeric keys."""
    if isinstance(value, list):
        return value[index] if index < len(value) else None
    if isinstance(value, dict):
        return value.get(str(index))
    return None


class _Call:
    """What one APIv4 call touches: its own fields, joined entities, opaque dotted reads."""

    def __init__(self, schema: Schema, entity: str, via: str) -> None:
        self.schema = schema
        self.entity = entity
        self.via = via
        self.prefix = "" if via == "route" else f"{via}/"
        self.fields: set[str] = set()
        self.aliases: dict[str, tuple[str, str]] = {}
        self.touched: dict[tuple[str, str, str], set[str]] = {}

    def _touch(self, entity: str, action: str, via: str, fields: Iterable[str] = ()) -> None:
        self.touched.setdefault((entity, action, via), set()).update(fields)

    def _opaque(self, entity: str, prefix: str) -> None:
        self._touch(OPAQUE, f"dotted:{entity}.{prefix}", self.via)

    def opaque(self, what: str) -> None:
        self._touch(OPAQUE, f"{self.entity}.{what}", self.via)

    def join(self, spec: Any) -> list[Any]:
        parts = positional(spec, "join")
        first = parts[0] if parts else None
        if not isinstance(first, str):
            raise BadRequest("APIv4 join needs an entity", reason="bad-join")
        names = _AS.split(first.strip())
        if len(names) > 2 or not all(names):
            raise BadRequest("APIv4 join entity must be 'Entity AS alias'", reason="bad-join")
        entity = _entity(self.schema, names[0], "a join")
        aliases = names[1:] or [names[0], names[0].lower()]
        via = f"{self.prefix}join:{aliases[0]}"
        self._touch(entity, "get", via)
        for alias in aliases:
            self.aliases[alias] = (entity, via)
        rest = parts[2:]
        if rest and isinstance(rest[0], str):
            self._touch(_entity(self.schema, rest[0], "a join bridge"), "get", f"{via}/bridge")
            rest = rest[1:]
        return rest

    def resolve(self, ref: str, write: bool = False) -> None:
        parts = ref.split(":", 1)[0].split(".")
        if any(not part for part in parts):
            raise BadRequest("Empty segment in an APIv4 field name", reason="bad-field")
        if len(parts) == 1:
            self.fields.add(parts[0])
            return
        starts: list[tuple[str, str]] = []
        if parts[0] in self.aliases:
            starts.append(self.aliases[parts[0]])
        target = self.schema.fk_target(self.entity, parts[0])
        if target is not None:
            self.fields.add(parts[0])
            starts.append((target, f"{self.prefix}join:{parts[0]}"))
        if not starts:
            self._opaque(self.entity, parts[0])
        for entity, via in starts:
            self._follow(entity, via, parts[0], parts[1:], write)

    def _follow(self, entity: str, via: str, trail: str, rest: list[str], write: bool) -> None:
        while len(rest) > 1:
            self._touch(entity, "get", via, [rest[0]])
            target = self.schema.fk_target(entity, rest[0])
            if target is None:
                self._opaque(entity, rest[0])
                return
            trail = f"{trail}.{rest[0]}"
            entity, via, rest = target, f"{self.prefix}join:{trail}", rest[1:]
        for action in ("create", "update") if write else ("get",):
            self._touch(entity, action, via, [rest[0]])

    def read(self, expr: Any) -> None:
        if isinstance(expr, str):
            for name in expression_fields(expr):
                self.resolve(name)

    def write(self, record: Any) -> None:
        if isinstance(record, dict):
            for key in record:
                self.resolve(key, write=True)

    def where(self, clause: Any, condition: bool = False, depth: int = 0) -> None:
        if depth > MAX_DEPTH:
            raise BadRequest("APIv4 where clause nested too deep", reason="too-deep")
        parts = positional(clause, "clause")
        if not parts:
            return
        head = parts[0]
        if not isinstance(head, str):
            # A group's list of clauses (what NOT wraps in an AND).
            for sub in parts:
                self.where(sub, condition, depth + 1)
            return
        if head.upper() in _GROUPS and len(parts) > 1:
            # AND/OR list their clauses; NOT holds one clause or a list of them.
            self.where(parts[1], condition, depth + 1)
            return
        self.read(head)
        if len(parts) > 2 and (condition or (len(parts) > 3 and not php_empty(parts[3]))):
            self.read(parts[2])

    def operations(self, actions: Iterable[str]) -> list[Operation]:
        own = frozenset(self.fields)
        ops = [Operation(self.entity, action, self.via, own) for action in actions]
        ops.extend(Operation(e, a, v, frozenset(f)) for (e, a, v), f in self.touched.items())
        return ops


def _actions(action: str, params: dict[str, Any]) -> list[str]:
    records = [r for r in values_of(params.get("records")) if isinstance(r, dict)]
    defaults = params.get("defaults")
    defaults = defaults if isinstance(defaults, dict) else {}
    updates = any("id" in r for r in records) or "id" in defaults or bool(values_of(params.get("match")))
    values = params.get("values")
    if action == "save":
        return ["create", "update"] if updates else ["create"]
    if action == "replace":
        return ["delete", "create", "update"] if updates else ["delete", "create"]
    if action == "create" and isinstance(values, dict) and "id" in values:
        return ["create", "update"]
    return [action]


def _read_params(call: _Call, action: str, params: dict[str, Any]) -> None:
    shapes = params_of(action)
    conditions = [c for join in values_of(params.get("join")) for c in call.join(join)]
    for condition in conditions:
        call.where(condition, condition=True)
    for name, value in params.items():
        shape = shapes.get(name)
        if shape is Shape.FIELDS or (shape is Shape.ORDER and not isinstance(value, dict)):
            for expr in values_of(value):
                call.read(expr)
        elif shape is Shape.ORDER:
            for expr in value:
                call.read(expr)
        elif shape is Shape.CLAUSES:
            for clause in values_of(value):
                call.where(clause)
        elif shape is Shape.RECORD:
            call.write(value)
        elif shape is Shape.RECORDS:
            for record in values_of(value):
                call.write(record)
        elif shape is Shape.FILTERS and isinstance(value, dict):
            for key in value:
                call.resolve(field_ref(key, "filter"))
        elif shape is Shape.OPAQUE and not php_empty(value):
            if not isinstance(value, str):
                raise BadRequest(f"APIv4 parameter '{name}' must name a saved item", reason="bad-parameter")
            call.opaque(f"{name}:{value}")
        elif name in FIELD_VALUED and not php_empty(value):
            call.resolve(field_ref(value, name))


def _as_params(value: Any) -> dict[str, Any]:
    if value is None or value == []:
        return {}
    if isinstance(value, dict):
        return value
    raise BadRequest("APIv4 params must be a JSON object", reason="invalid-json")


def call_operations(
    schema: Schema,
    entity_raw: Any,
    action_raw: Any,
    params: Any,
    via: str,
    depth: int = 0,
    index: Any = None,
    allowed: frozenset[str] = frozenset(),
) -> list[Operation]:
    """Every operation of one APIv4 call, its joins, its index and its chains."""
    if depth > MAX_DEPTH:
        raise BadRequest("API calls nested too deep", reason="too-deep")
    if not isinstance(entity_raw, str) or not isinstance(action_raw, str) or not entity_raw or not action_raw:
        raise BadRequest("APIv4 call without entity or action", reason="missing-entity")
    if not _NAME.fullmatch(action_raw):
        raise BadRequest("Not an APIv4 action name", reason="bad-action")
    action = canonical_action(action_raw)
    params = canonical_params(_as_params(params), params_of(action))
    if "checkPermissions" in params and php_empty(params["checkPermissions"]):
        raise Forbidden("Permission checks cannot be turned off", reason="check-permissions")
    check_params(action, params, allowed)
    call = _Call(schema, _entity(schema, entity_raw, "a call"), via)
    if action not in META_ACTIONS:
        _read_params(call, action, params)
    for ref in index_fields(index):
        call.resolve(ref)
    ops = call.operations(_actions(action, params))
    chain = params.get("chain")
    for name, spec in chain.items() if isinstance(chain, dict) else enumerate(values_of(chain)):
        sub_via = f"{call.prefix}chain:{name}"
        entity, sub_action, sub_params, sub_index = (item(spec, i) for i in range(4))
        ops.extend(
            call_operations(schema, entity, sub_action, sub_params, sub_via, depth + 1, sub_index, allowed)
        )
    return ops


def _refuse_get() -> GatewayError:
    return GatewayError("Requests that modify data must use POST", reason="destructive-get", status=405)


def _one_value(sources: Sources, name: str) -> str | None:
    if name in sources.query and name in sources.form:
        raise BadRequest(f"Parameter '{name}' given in the query and the body", reason=AMBIGUOUS_PARAMETER)
    return sources.single(name)


def identify(
    view: RequestView, sources: Sources, route: Route, schema: Schema, allowed: frozenset[str] = frozenset()
) -> list[Operation]:
    read_only = view.method.upper() in ("GET", "HEAD")
    if route.kind is Kind.API4:
        if read_only and route.action != "autocomplete" and route.action[:3].lower() != "get":
            raise _refuse_get()
        text = _one_value(sources, "params")
        params = _as_params(decode_json(text, "params") if text and text != "0" else {})
        if _NAME.fullmatch(route.action):
            params = merge_query(sources, canonical_action(route.action), params, allowed)
        index = _one_value(sources, "index")
        return call_operations(
            schema, route.entity, route.action, params, "route", index=index, allowed=allowed
        )
    if read_only:
        raise _refuse_get()
    if "calls" in sources.query:
        raise BadRequest("APIv4 batch 'calls' must be in the POST body", reason=AMBIGUOUS_PARAMETER)
    check_batch(sources, allowed)
    text = _one_value(sources, "calls")
    calls = decode_json(text, "calls") if text else None
    if not isinstance(calls, dict | list):
        raise BadRequest("APIv4 batch needs 'calls'", reason="bad-batch")
    ops: list[Operation] = []
    for key, call in calls.items() if isinstance(calls, dict) else enumerate(calls):
        entity, action, params, index = batch_call(call)
        ops.extend(
            call_operations(schema, entity, action, params, f"batch:{key}", index=index, allowed=allowed)
        )
    return ops
