"""The APIv3 calls one request runs: the route's own call, its ``api.<Entity>.<action>`` chains
(``ChainSubscriber``), ``getlist``'s nested ``get`` and the calls of an ``entity=api3`` batch, each as an
Operation. Anything doubtful is refused rather than guessed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from gateway.dialects.base import Operation
from gateway.dialects.civicrm.schema import Schema
from gateway.dialects.civicrm.v3_inputs import check_action
from gateway.dialects.civicrm.v3_params import decode_json, fields_of, is_chain, php_empty
from gateway.dialects.phpparams import php_item
from gateway.errors import BadRequest, Forbidden

MAX_DEPTH = 16
CACHED_NAMES = 512
CACHED_NAME_LENGTH = 64
"""Entity and action names up to this length have their derived forms memoized (bounded memory)."""


_MUNGE = re.compile(r"[^A-Za-z0-9]+")
_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")


def _munge(raw: str) -> str:
    return _MUNGE.sub("_", raw.strip()).lower()


def _id_param(entity: str) -> str:
    """The ``<entity>_id`` parameter naming the record itself (``EntityTag`` -> ``entity_tag_id``)."""
    return f"{_SNAKE.sub('_', entity).lower()}_id"


_munge_cached = lru_cache(maxsize=CACHED_NAMES)(_munge)
_id_param_cached = lru_cache(maxsize=CACHED_NAMES)(_id_param)


def _munged_action(raw: str) -> str:
    return _munge_cached(raw) if len(raw) <= CACHED_NAME_LENGTH else _munge(raw)


def _own_id(entity: str) -> str:
    return _id_param_cached(entity) if len(entity) <= CACHED_NAME_LENGTH else _id_param(entity)


def guard(params: Mapping[str, Any]) -> None:
    if "className" in params or "fnName" in params:
        raise Forbidden("Internal AJAX methods are not callable here", reason="internal-method")
    for name in ("check_permissions", "checkPermissions"):
        if name in params and php_empty(params[name]):
            raise Forbidden("Permission checks cannot be turned off", reason="check-permissions")
    if "version" in params and str(params["version"]).strip() != "3":
        raise BadRequest("Only APIv3 calls are accepted on an APIv3 endpoint", reason="api-version")


class Walker:
    """Collects an Operation for every call it walks: the call itself, its chains and getlist."""

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
        guard(params)
        entity = self.schema.v3_entity(entity_raw)
        action = _munged_action(action_raw)
        check_action(action)
        fields = fields_of(params, action)
        own_id = _own_id(entity)
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


def walk_batch(walker: Walker, request: Mapping[str, Any]) -> None:
    text = request.get("json")
    if not isinstance(text, str):
        raise BadRequest("api3 batch needs a 'json' parameter", reason="invalid-json")
    calls = decode_json(text, "json")
    if not isinstance(calls, dict | list):
        raise BadRequest("api3 batch 'json' must list calls", reason="invalid-json")
    items = calls.items() if isinstance(calls, dict) else enumerate(calls)
    for key, call in items:
        entity, action, params = php_item(call, 0), php_item(call, 1), php_item(call, 2)
        if not isinstance(entity, str) or not isinstance(action, str):
            raise BadRequest("api3 batch call without entity or action", reason="missing-entity")
        if params is not None and not isinstance(params, dict | list):
            raise BadRequest("api3 batch call params must be an object", reason="invalid-json")
        walker.top(entity, action, _as_params(params or {}), f"batch:{key}")
