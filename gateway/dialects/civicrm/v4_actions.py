"""The parameters each APIv4 action accepts, and how the gateway reads each one.

Every ``protected`` property of an action class (not starting with ``_``, not ``version``) is a
parameter (``AbstractAction::getParamInfo``); ``CRM_Api4_Page_AJAX::getParamsFromRequest`` merges the
query keys that name one of them. The gateway knows, per action, every parameter it accepts and what
its value holds (field lists, clauses, records, chains, plain scalars); a parameter it does not know is
refused, and an action it does not know is refused.

Read in civicrm-core master ``Civi/Api4/Generic/*Action.php`` and ``CRM/Api4/Page/AJAX.php`` (2026-12).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from gateway.errors import BadRequest

UNKNOWN_PARAMETER = "unknown-parameter"
UNKNOWN_ACTION = "unknown-action"


class Shape(enum.Enum):
    """What a parameter's value holds, as far as entities and fields go."""

    SCALAR = "scalar"
    """A number, string or boolean naming no field (``limit``, ``debug``, ``input``)."""
    FIELDS = "fields"
    """A list of field expressions (``select``, ``groupBy``, ``reload``, ``match``)."""
    ORDER = "order"
    """``{expression: direction}`` (or a list of expressions)."""
    CLAUSES = "clauses"
    """Where/having clauses, nested AND/OR/NOT."""
    JOINS = "joins"
    RECORD = "record"
    """``{field: value}``: a written (or, for reads, tested) record."""
    RECORDS = "records"
    CHAIN = "chain"
    FILTERS = "filters"
    """``{field: value}`` read as filters."""
    IDS = "ids"
    """A list of scalars (``ids``, ``exclude``)."""
    DATA = "data"
    """Any value naming no field of the entity (``getFields`` ``values``)."""
    OPAQUE = "opaque"
    """Names something the gateway cannot see into (a saved search): an opaque operation."""


_COMMON: Mapping[str, Shape] = {
    "chain": Shape.CHAIN,
    "checkPermissions": Shape.SCALAR,
    "debug": Shape.SCALAR,
    "language": Shape.SCALAR,
}
_QUERY: Mapping[str, Shape] = {
    "where": Shape.CLAUSES,
    "orderBy": Shape.ORDER,
    "limit": Shape.SCALAR,
    "offset": Shape.SCALAR,
}
_GET: Mapping[str, Shape] = {
    **_QUERY,
    "select": Shape.FIELDS,
    "join": Shape.JOINS,
    "groupBy": Shape.FIELDS,
    "having": Shape.CLAUSES,
}
_SAVE: Mapping[str, Shape] = {
    "records": Shape.RECORDS,
    "defaults": Shape.RECORD,
    "reload": Shape.FIELDS,
    "match": Shape.FIELDS,
}
_META: Mapping[str, Shape] = {**_QUERY, "select": Shape.FIELDS}

ACTION_PARAMS: Mapping[str, Mapping[str, Shape]] = {
    "get": _GET,
    "create": {"values": Shape.RECORD, "reload": Shape.FIELDS},
    "update": {**_QUERY, "values": Shape.RECORD, "reload": Shape.FIELDS},
    "save": _SAVE,
    "delete": {**_QUERY, "useTrash": Shape.SCALAR},
    "replace": {**_QUERY, **_SAVE},
    "getFields": {
        **_META,
        "loadOptions": Shape.SCALAR,
        "action": Shape.SCALAR,
        "values": Shape.DATA,
        "includeCustom": Shape.SCALAR,
    },
    "getActions": _META,
    "getLinks": {**_META, "entityTitle": Shape.SCALAR, "expandMultiple": Shape.SCALAR},
    "checkAccess": {"action": Shape.SCALAR, "values": Shape.RECORD},
    "autocomplete": {
        "input": Shape.SCALAR,
        "searchField": Shape.SCALAR,
        "ids": Shape.IDS,
        "exclude": Shape.IDS,
        "page": Shape.SCALAR,
        "key": Shape.SCALAR,
        "formName": Shape.SCALAR,
        "fieldName": Shape.SCALAR,
        "filters": Shape.FILTERS,
        "savedSearch": Shape.OPAQUE,
        "display": Shape.OPAQUE,
    },
    "export": {"id": Shape.SCALAR, "cleanup": Shape.SCALAR, "update": Shape.SCALAR, "match": Shape.FIELDS},
    "revert": _QUERY,
    "getDuplicates": {"values": Shape.RECORD, "dedupeRule": Shape.SCALAR},
    "mergeDuplicates": {"contactId": Shape.SCALAR, "duplicateId": Shape.SCALAR, "mode": Shape.SCALAR},
    "getChecksum": {"contactId": Shape.SCALAR, "ttl": Shape.SCALAR},
    "validateChecksum": {"contactId": Shape.SCALAR, "checksum": Shape.SCALAR},
    "validate": {"values": Shape.RECORD},
}
"""Action -> parameter -> shape; ``_COMMON`` applies to every action."""

_ACTION_BY_LOWER = {action.lower(): action for action in ACTION_PARAMS}
FIELD_VALUED = frozenset({"searchField", "key"})
"""Autocomplete parameters whose scalar value is a field name."""


def canonical_action(raw: str) -> str:
    """The action's canonical name (PHP method names match case-insensitively); unknown actions refused."""
    action = _ACTION_BY_LOWER.get(raw.lower())
    if action is None:
        raise BadRequest(f"Unknown APIv4 action '{raw}'", reason=UNKNOWN_ACTION)
    return action


def params_of(action: str) -> Mapping[str, Shape]:
    return {**_COMMON, **ACTION_PARAMS[action]}


def check_params(action: str, params: Mapping[str, Any], allowed: frozenset[str] = frozenset()) -> None:
    """BadRequest naming the first parameter ``action`` does not accept (unless ``allowed`` names it), or
    whose value does not have the shape the gateway reads."""
    known = params_of(action)
    for name, value in params.items():
        shape = known.get(name)
        if shape is None:
            if name in allowed:
                continue
            raise BadRequest(f"Unknown APIv4 parameter '{name}' for {action}", reason=UNKNOWN_PARAMETER)
        if value is None:
            continue
        if shape is Shape.SCALAR and isinstance(value, dict | list):
            raise BadRequest(f"APIv4 parameter '{name}' must be a single value", reason="bad-parameter")
        if shape is Shape.FIELDS and name == "reload" and isinstance(value, bool):
            continue
        if shape in _ARRAYS and not isinstance(value, dict | list):
            raise BadRequest(f"APIv4 parameter '{name}' must be an array", reason="bad-parameter")


_ARRAYS = frozenset(
    {Shape.FIELDS, Shape.ORDER, Shape.CLAUSES, Shape.JOINS, Shape.RECORD, Shape.RECORDS, Shape.CHAIN}
    | {Shape.FILTERS, Shape.IDS}
)
