"""APIv3: every (entity, action) a rest.php / ajax / WordPress REST request runs.

Mirrors ``CRM_Utils_REST``: params are ``array_merge($_GET, $_POST)``; a ``json`` value that
starts with ``{`` is the base, every other param except ``q json key api_key entity action``
overrides it; ``entity=api3`` is a batch; ``api.<Entity>.<action>`` keys chain more calls
(``ChainSubscriber``). Anything doubtful is refused rather than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gateway.dialects.base import Operation, RequestView
from gateway.dialects.civicrm.fk import Schema, v3_key
from gateway.dialects.civicrm.routes import AMBIGUOUS_PARAMETER, Kind, Route, Sources
from gateway.dialects.civicrm.v3_inputs import (
    NOT_FIELDS,
    check_action,
    names_in,
    refuse_credentials_in,
    refuse_routing_in,
    sort_fields,
    valued_fields,
)
from gateway.dialects.phpparams import php_json_decode
from gateway.errors import BadRequest, Forbidden

MAX_DEPTH = 16
_SKIP_TOP = frozenset({"q", "json", "key", "api_key", "entity", "action"})
RESERVED = frozenset(
    {
        "sequential",
        "options",
        "debug",
        "check_permissions",
        "version",
        "prettyprint",
        "json",
        "entity",
        "action",
        "q",
        "return",
        "className",
        "fnName",
        "api.has_parent",
        "_authx",
        "_authxSiteKey",
        "limit",
        "offset",
        "rowCount",
        "sort",
    }
)
_NOT_CHAINS = frozenset({"api.has_parent", "api_params"})
_LEGACY_ACTIONS = {"add": "create", "search": "get"}
_PHP_NUMERIC = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")
_MUNGE = re.compile(r"[^A-Za-z0-9]+")
_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")


def php_empty(value: Any) -> bool:
    return value in (None, "", "0", 0, False) or value == [] or value == {}


def _munged_action(raw: str) -> str:
    return _MUNGE.sub("_", raw.strip()).lower()


def _scalar(value: Any, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise BadRequest(f"Parameter '{name}' must be a string", reason=AMBIGUOUS_PARAMETER)


def decode_json(text: str | bytes, what: str) -> Any:
    try:
        return php_json_decode(text)
    except (ValueError, RecursionError):
        raise BadRequest(f"Invalid JSON in '{what}'", reason="invalid-json") from None


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


def build_params(request: Mapping[str, Any], kind: Kind) -> dict[str, Any]:
    """``CRM_Utils_REST::buildParamList`` (the WordPress controller reads the same, as a superset)."""
    params: dict[str, Any] = {}
    base = request.get("json")
    if isinstance(base, str) and base.lstrip().startswith("{"):
        params = dict(decode_json(base, "json"))
    elif kind is Kind.WP_REST and isinstance(base, dict):
        params = dict(base)
    elif kind is Kind.WP_REST and isinstance(base, str) and not _PHP_NUMERIC.match(base):
        raise BadRequest("Parameter 'json' must be a JSON object or a number", reason="invalid-json")
    refuse_routing_in(params)
    refuse_credentials_in(params, "'json' parameter")
    for name, value in request.items():
        if name not in _SKIP_TOP:
            params[name] = value
    returned = request.get("return")
    if isinstance(returned, dict):
        for name in returned:
            params[f"return.{name}"] = 1
    return params


def is_chain(key: str, value: Any) -> bool:
    if not key.startswith(("api.", "api_")) or key in _NOT_CHAINS:
        return False
    return isinstance(value, dict | list) or value is True or value in (1, "1")


def fields_of(params: Mapping[str, Any], action: str = "get") -> frozenset[str]:
    """Every field name a v3 call reads or writes: filters and values, ``return``, sort keys, and the
    values of ``action``'s field-valued parameters (``getlist`` ``search_field``, ``getvalue`` ``return``)."""
    fields: set[str] = valued_fields(action, params)
    skip = NOT_FIELDS.get(action, frozenset())
    for key, value in params.items():
        if key in skip:
            continue
        if key == "api_key":
            fields.add(key)
        elif key == "return":
            fields |= names_in(value, "return")
        elif key.startswith(("return.", "return_")):
            fields |= {key[7:], key} if key.startswith("return_") else {key[7:]}
        elif key == "options" and isinstance(value, dict):
            fields |= sort_fields(value.get("sort")) | names_in(value.get("return"), "options.return")
        elif key == "sort":
            fields |= sort_fields(value)
        elif key.startswith(("option.", "option_", "options.", "options_")):
            if key.endswith("sort"):
                fields |= sort_fields(value)
            elif key.endswith("return"):
                fields |= names_in(value, "options.return")
        elif key not in RESERVED and not is_chain(key, value):
            fields.add(key)
    return frozenset(fields)


def _guard(params: Mapping[str, Any]) -> None:
    if "className" in params or "fnName" in params:
        raise Forbidden("Internal AJAX methods are not callable here", reason="internal-method")
    for name in ("check_permissions", "checkPermissions"):
        if name in params and php_empty(params[name]):
            raise Forbidden("Permission checks cannot be turned off", reason="check-permissions")
    if "version" in params and str(params["version"]).strip() != "3":
        raise BadRequest("Only APIv3 calls are accepted on an APIv3 endpoint", reason="api-version")


class _Walker:
    def __init__(self, schema: Schema, read_only: bool) -> None:
        self.schema = schema
        self.read_only = read_only
        self.ops: list[Operation] = []

    def call(
        self,
        entity_raw: str,
        action_raw: str,
        params: Mapping[str, Any],
        via: str,
        depth: int,
        parent: str | None = None,
    ) -> None:
        if depth > MAX_DEPTH:
            raise BadRequest("API calls nested too deep", reason="too-deep")
        if not entity_raw.strip() or not action_raw.strip():
            raise BadRequest("API call without entity or action", reason="missing-entity")
        _guard(params)
        entity = self.schema.v3_entity(entity_raw)
        action = _munged_action(action_raw)
        check_action(action)
        fields = fields_of(params, action)
        own_id = f"{_SNAKE.sub('_', entity).lower()}_id"
        has_id = not php_empty(params.get("id")) or not php_empty(params.get(own_id))
        if action == "create" and has_id:
            action = "update"
        elif action == "create" and parent is not None and (parent == entity or parent != "Contact"):
            self.ops.append(Operation(entity, "create", via, fields))
            action = "update"
        self.ops.append(Operation(entity, action, via, fields))
        if action == "getlist":
            self._getlist(entity, params, via, depth)
        self._chains(entity, action_raw, params, via, depth)

    def _getlist(self, entity: str, params: Mapping[str, Any], via: str, depth: int) -> None:
        """``getlist`` runs a ``get`` on its nested ``params`` (chains included)."""
        nested = params.get("params", {})
        if isinstance(nested, str):
            nested = decode_json(nested, "params") if nested.strip() else {}
        if not isinstance(nested, dict | list):
            raise BadRequest("APIv3 getlist 'params' must be an object", reason="invalid-json")
        prefix = "" if via == "route" else f"{via}/"
        self.call(entity, "get", _as_params(nested), f"{prefix}getlist:params", depth + 1)

    def top(self, entity_raw: str, action_raw: str, params: Mapping[str, Any], via: str) -> None:
        if self.read_only and action_raw.strip():
            action = _munged_action(action_raw)
            if not (action.startswith("get") or action == "check"):
                raise BadRequest("Requests that modify data must use POST", reason="destructive-get")
        self.call(entity_raw, action_raw, params, via, 0)

    def _chains(self, entity: str, action_raw: str, params: Mapping[str, Any], via: str, depth: int) -> None:
        prefix = "" if via == "route" else f"{via}/"
        for key, value in params.items():
            if not is_chain(key, value):
                continue
            parts = key.split(key[3])
            sub_action = parts[2] if len(parts) > 2 and parts[2] else action_raw
            for sub_params in _param_sets(value):
                self.call(parts[1], sub_action, sub_params, f"{prefix}chain:{key}", depth + 1, entity)


def _param_sets(value: Any) -> list[Mapping[str, Any]]:
    if isinstance(value, list):
        items = value or [{}]
    elif isinstance(value, dict):
        items = list(value.values()) if "0" in value else [value]
    else:
        items = [{}]
    return [_as_params(item) for item in items if isinstance(item, dict | list)]


def _as_params(value: Any) -> Mapping[str, Any]:
    if isinstance(value, dict):
        return value
    return {str(i): v for i, v in enumerate(value)}


def _item(call: Any, index: int) -> Any:
    if isinstance(call, list):
        return call[index] if index < len(call) else None
    if isinstance(call, dict):
        return call.get(str(index))
    return None


def _batch(walker: _Walker, request: Mapping[str, Any]) -> None:
    text = request.get("json")
    if not isinstance(text, str):
        raise BadRequest("api3 batch needs a 'json' parameter", reason="invalid-json")
    calls = decode_json(text, "json")
    if not isinstance(calls, dict | list):
        raise BadRequest("api3 batch 'json' must list calls", reason="invalid-json")
    items = calls.items() if isinstance(calls, dict) else enumerate(calls)
    for key, call in items:
        entity, action, params = _item(call, 0), _item(call, 1), _item(call, 2)
        if not isinstance(entity, str) or not isinstance(action, str):
            raise BadRequest("api3 batch call without entity or action", reason="missing-entity")
        if params is not None and not isinstance(params, dict | list):
            raise BadRequest("api3 batch call params must be an object", reason="invalid-json")
        walker.top(entity, action, _as_params(params or {}), f"batch:{key}")


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
    _guard(request)
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
    walker = _Walker(schema, view.method.upper() in ("GET", "HEAD"))
    if v3_key(entity) == "api3":
        _batch(walker, request)
        return walker.ops
    params = build_params(request, route.kind)
    _guard(params)
    walker.top(entity, action, params, "route")
    return walker.ops
