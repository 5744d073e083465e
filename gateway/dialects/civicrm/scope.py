"""Record scopes on CiviCRM: add a where clause the client cannot remove to an APIv4 call.

Only a direct APIv4 call (the route's own operation) can be scoped; any other way a request reaches a
scoped entity (a chain, a join, a dotted field, a batch, APIv3) is refused: fail closed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from multidict import MultiDict, MultiDictProxy

from gateway.dialects.base import Operation, RequestView, ScopeClauses, scope_refusal
from gateway.dialects.civicrm.routes import Kind, Route

SCOPED_ACTIONS = frozenset({"get", "update", "delete"})
UNSCOPED_ACTIONS = frozenset({"create", "getfields", "getactions", "getlinks", "checkaccess"})


def scope_api4(route: Route, view: RequestView, touched: Sequence[Operation], clauses: ScopeClauses) -> None:
    """Narrow ``view`` to the scoped records, or refuse (``touched``: the operations on scoped entities)."""
    first = touched[0].entity
    if route.kind is not Kind.API4:
        raise scope_refusal(first, "only direct APIv4 calls can be scoped")
    for op in touched:
        if op.via != "route":
            raise scope_refusal(op.entity, f"it cannot be reached through {op.via.split(':', 1)[0]}")
    action = route.action.lower()
    if action in UNSCOPED_ACTIONS:
        return
    if action not in SCOPED_ACTIONS:
        raise scope_refusal(first, f"the {route.action} action cannot be scoped")
    _rewrite_params(view, [[field, "IN", list(values)] for field, values in clauses(route.entity)])


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
