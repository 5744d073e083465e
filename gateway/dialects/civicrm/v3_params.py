"""APIv3 parameters: ``CRM_Utils_REST::buildParamList``, chained-call keys, and the field names a call
reads or writes.

Params are ``array_merge($_GET, $_POST)``; a ``json`` value that starts with ``{`` is the base, every
other param except ``q json key api_key entity action`` overrides it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gateway.dialects.civicrm.routes import Kind
from gateway.dialects.civicrm.v3_inputs import (
    NOT_FIELDS,
    names_in,
    refuse_credentials_in,
    refuse_routing_in,
    sort_fields,
    valued_fields,
)
from gateway.dialects.phpparams import php_json_decode
from gateway.errors import BadRequest

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


_PHP_NUMERIC = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


def php_empty(value: Any) -> bool:
    return value in (None, "", "0", 0, False) or value == [] or value == {}


def decode_json(text: str | bytes, what: str) -> Any:
    try:
        return php_json_decode(text)
    except (ValueError, RecursionError):
        raise BadRequest(f"Invalid JSON in '{what}'", reason="invalid-json") from None


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
