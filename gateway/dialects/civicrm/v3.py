"""APIv3: every (entity, action) a rest.php / ajax / WordPress REST request runs.

Mirrors ``CRM_Utils_REST``: the route's entity and action (or the legacy ``q=civicrm/<entity>/<action>``),
the parameter list (``v3_params``), then every call it runs (``v3_calls``): chains, ``getlist``, and
``entity=api3`` batches. Anything doubtful is refused rather than guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.dialects.base import Operation, RequestView
from gateway.dialects.civicrm.routes import AMBIGUOUS_PARAMETER, Kind, Route, Sources
from gateway.dialects.civicrm.schema import Schema, v3_key
from gateway.dialects.civicrm.v3_calls import Walker, guard, walk_batch
from gateway.dialects.civicrm.v3_inputs import refuse_credentials_in
from gateway.dialects.civicrm.v3_params import build_params, decode_json
from gateway.errors import BadRequest, Forbidden

_LEGACY_ACTIONS = {"add": "create", "search": "get"}


def _scalar(value: Any, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise BadRequest(f"Parameter '{name}' must be a string", reason=AMBIGUOUS_PARAMETER)


def _wp_body(view: RequestView) -> dict[str, Any]:
    if view.content_type.split(";")[0].strip().lower() != "application/json" or not view.body:
        return {}
    body = decode_json(view.body, "body")
    if not isinstance(body, dict):
        raise BadRequest("JSON body must be an object", reason="invalid-json")
    return body


def _check_route_params(sources: Sources, body: Mapping[str, Any]) -> None:
    for name in ("entity", "action"):
        given = sources.single(name)
        if name in body and (not isinstance(body[name], str) or (given is not None and body[name] != given)):
            raise BadRequest(f"Parameter '{name}' given with different values", reason=AMBIGUOUS_PARAMETER)


def _legacy_route(q: str) -> tuple[str, str] | Operation:
    parts = q.split("/")
    if len(parts) > 1 and parts[1].lower() == "login":
        raise Forbidden("Log in through the gateway, not CiviCRM", reason="login-route")
    if parts[0] != "civicrm" or len(parts) < 2 or (len(parts) != 3 and parts[1] != "ping"):
        raise BadRequest("Unknown function invocation", reason="bad-route")
    if parts[1] == "ping":
        return Operation("System", "ping")
    return parts[1], _LEGACY_ACTIONS.get(parts[2].lower(), parts[2])


def identify(view: RequestView, sources: Sources, route: Route, schema: Schema) -> list[Operation]:
    body = _wp_body(view) if route.kind is Kind.WP_REST else {}
    refuse_credentials_in(body, "JSON body")
    _check_route_params(sources, body)
    request = {**sources.merged(), **body}
    guard(request)
    entity = _scalar(request.get("entity"), "entity")
    action = _scalar(request.get("action"), "action")
    q = sources.single("q") if route.kind is Kind.REST_PHP else None
    if q and entity:
        raise BadRequest("Ambiguous route: both 'q' and 'entity' given", reason="ambiguous-route")
    if q:
        legacy = _legacy_route(q)
        if isinstance(legacy, Operation):
            return [legacy]
        entity, action = legacy
    walker = Walker(schema, view.method.upper() in ("GET", "HEAD"))
    if v3_key(entity) == "api3":
        walk_batch(walker, request)
        return walker.ops
    params = build_params(request, route.kind)
    guard(params)
    walker.top(entity, action, params, "route")
    return walker.ops
