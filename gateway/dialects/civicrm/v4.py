"""APIv4: every (entity, action) an ``civicrm/ajax/api4`` request runs or reads.

Mirrors ``CRM_Api4_Page_AJAX``: one call from the route plus ``params`` (JSON), or a batch in
the POST field ``calls``. Inside a call, ``chain`` runs more calls, ``join`` and dotted field
names (``contact_id.display_name``) read other entities (``v4_call``). A dotted name the dialect
cannot attribute becomes an opaque ``dotted:<Entity>.<prefix>`` operation, denied unless a policy
names it.
"""

from __future__ import annotations

from typing import Any

from gateway.dialects.base import Operation, RequestView
from gateway.dialects.civicrm.routes import AMBIGUOUS_PARAMETER, Kind, Route, Sources
from gateway.dialects.civicrm.schema import Schema
from gateway.dialects.civicrm.v3_params import decode_json, php_empty
from gateway.dialects.civicrm.v4_actions import canonical_action, check_params, params_of
from gateway.dialects.civicrm.v4_call import MAX_DEPTH, NAME, CallReads, entity_name, read_params
from gateway.dialects.civicrm.v4_expr import expression_fields as expression_fields
from gateway.dialects.civicrm.v4_params import canonical_params, values_of
from gateway.dialects.civicrm.v4_request import batch_call, check_batch, index_fields, merge_query
from gateway.dialects.phpparams import php_item
from gateway.errors import BadRequest, Forbidden, GatewayError

META_ACTIONS = frozenset({"getFields", "getActions", "getLinks"})


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
    if not NAME.fullmatch(action_raw):
        raise BadRequest("Not an APIv4 action name", reason="bad-action")
    action = canonical_action(action_raw)
    params = canonical_params(_as_params(params), params_of(action))
    if "checkPermissions" in params and php_empty(params["checkPermissions"]):
        raise Forbidden("Permission checks cannot be turned off", reason="check-permissions")
    check_params(action, params, allowed)
    call = CallReads(schema, entity_name(schema, entity_raw, "a call"), via)
    if action not in META_ACTIONS:
        read_params(call, action, params)
    for ref in index_fields(index):
        call.resolve(ref)
    ops = call.operations(_actions(action, params))
    chain = params.get("chain")
    for name, spec in chain.items() if isinstance(chain, dict) else enumerate(values_of(chain)):
        sub_via = f"{call.prefix}chain:{name}"
        entity, sub_action, sub_params, sub_index = (php_item(spec, i) for i in range(4))
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
    view: RequestView,
    sources: Sources,
    route: Route,
    schema: Schema,
    allowed: frozenset[str] = frozenset(),
    tolerated: frozenset[str] | None = None,
) -> list[Operation]:
    """``allowed``: parameters let through unmodelled; ``tolerated``: the query and body keys let through
    (``allowed`` and the token slots' parameters)."""
    tolerated = allowed if tolerated is None else tolerated
    read_only = view.method.upper() in ("GET", "HEAD")
    if route.kind is Kind.API4:
        if read_only and route.action != "autocomplete" and route.action[:3].lower() != "get":
            raise _refuse_get()
        text = _one_value(sources, "params")
        params = _as_params(decode_json(text, "params") if text and text != "0" else {})
        if NAME.fullmatch(route.action):
            params = merge_query(sources, canonical_action(route.action), params, tolerated)
        index = _one_value(sources, "index")
        return call_operations(
            schema, route.entity, route.action, params, "route", index=index, allowed=allowed
        )
    if read_only:
        raise _refuse_get()
    if "calls" in sources.query:
        raise BadRequest("APIv4 batch 'calls' must be in the POST body", reason=AMBIGUOUS_PARAMETER)
    check_batch(sources, tolerated)
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
