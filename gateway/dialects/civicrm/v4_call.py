"""What one APIv4 call touches: its own fields, the entities its joins and dotted field names
(``contact_id.display_name``) read, and the opaque ``dotted:<Entity>.<prefix>`` reads the dialect cannot
attribute; filled from the call's parameters by :func:`read_params`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from gateway.dialects.base import OPAQUE, Operation
from gateway.dialects.civicrm.schema import Schema
from gateway.dialects.civicrm.v3_params import php_empty
from gateway.dialects.civicrm.v4_actions import FIELD_VALUED, Shape, params_of
from gateway.dialects.civicrm.v4_expr import expression_fields
from gateway.dialects.civicrm.v4_params import positional, values_of
from gateway.dialects.civicrm.v4_request import field_ref
from gateway.errors import BadRequest

MAX_DEPTH = 16
_GROUPS = frozenset({"AND", "OR", "NOT"})
_AS = re.compile(r"\s+AS\s+", re.I)
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def entity_name(schema: Schema, raw: str, what: str) -> str:
    """The canonical name of the APIv4 entity ``raw`` (in ``what``); BadRequest for a non-identifier."""
    if not NAME.fullmatch(raw):
        raise BadRequest(f"Not an APIv4 entity name in {what}", reason="bad-entity")
    return schema.v4_entity(raw)


class CallReads:
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
        entity = entity_name(self.schema, names[0], "a join")
        aliases = names[1:] or [names[0], names[0].lower()]
        via = f"{self.prefix}join:{aliases[0]}"
        self._touch(entity, "get", via)
        for alias in aliases:
            self.aliases[alias] = (entity, via)
        rest = parts[2:]
        if rest and isinstance(rest[0], str):
            self._touch(entity_name(self.schema, rest[0], "a join bridge"), "get", f"{via}/bridge")
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


def read_params(call: CallReads, action: str, params: dict[str, Any]) -> None:
    """Record on ``call`` every field, join and dotted read that ``action``'s ``params`` name."""
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
