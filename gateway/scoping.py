"""Apply record scopes: add a where clause the client cannot remove to a CiviCRM APIv4 call.

Only a direct APIv4 call (the route's own operation) can be scoped; any other way a request reaches a
scoped entity (a chain, a join, a dotted field, a batch, APIv3, EspoCRM) is refused: fail closed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from multidict import MultiDict, MultiDictProxy

from gateway.auth.principal import Principal
from gateway.config.model import UpstreamConfig
from gateway.dialects.base import Operation, RequestView
from gateway.dialects.civicrm import CiviCrmDialect
from gateway.dialects.civicrm_routes import Kind
from gateway.errors import Forbidden
from gateway.policy.scope import RecordScope

SCOPED_ACTIONS = frozenset({"get", "update", "delete"})
UNSCOPED_ACTIONS = frozenset({"create", "getfields", "getactions", "getlinks", "checkaccess"})


def _norm(entity: str) -> str:
    return entity.lower().replace("_", "")


def _refuse(entity: str, why: str) -> Forbidden:
    return Forbidden(f"{entity} records are scoped for this integration: {why}", reason="scope-unsupported")


def apply_record_scopes(
    up: UpstreamConfig,
    view: RequestView,
    ops: Sequence[Operation],
    scopes: Sequence[RecordScope],
    principal: Principal,
) -> None:
    if not scopes:
        return
    by_entity: dict[str, list[RecordScope]] = {}
    for scope in scopes:
        by_entity.setdefault(_norm(scope.entity), []).append(scope)
    touched = [op for op in ops if not op.opaque and _norm(op.entity) in by_entity]
    if not touched:
        return
    first = touched[0].entity
    dialect = up.dialect
    if not isinstance(dialect, CiviCrmDialect):
        raise _refuse(first, "only CiviCRM APIv4 calls can be scoped")
    route = dialect.route(view)
    if route.kind is not Kind.API4:
        raise _refuse(first, "only direct APIv4 calls can be scoped")
    for op in touched:
        if op.via != "route":
            raise _refuse(op.entity, f"it cannot be reached through {op.via.split(':', 1)[0]}")
    action = route.action.lower()
    if action in UNSCOPED_ACTIONS:
        return
    if action not in SCOPED_ACTIONS:
        raise _refuse(first, f"the {route.action} action cannot be scoped")
    clauses: list[list[Any]] = []
    for scope in by_entity[_norm(route.entity)]:
        values = scope.values(principal.claims)
        if values is None:
            raise Forbidden(
                f"{route.entity} records are scoped by a claim this token does not carry",
                reason="scope-claim-missing",
            )
        clauses.append([scope.field, "IN", list(values)])
    _rewrite_params(view, clauses)


def _rewrite_params(view: RequestView, clauses: list[list[Any]]) -> None:
    in_form = view.form is not None and "params" in view.form
    source = view.form if in_form else view.query
    assert source is not None
    raw = source.get("params", "") or "{}"
    params = json.loads(raw)
    if not isinstance(params, dict):
        params = {}
    where = params.get("where")
    params["where"] = [*clauses, *(where if isinstance(where, list) else [])]
    encoded = json.dumps(params, separators=(",", ":"))
    updated = MultiDict((k, encoded if k == "params" else v) for k, v in source.items())
    if "params" not in updated:
        updated.add("params", encoded)
    if in_form:
        view.form = MultiDictProxy(updated)
    else:
        view.query = MultiDictProxy(updated)
