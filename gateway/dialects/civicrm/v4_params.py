"""How APIv4 reads one call's parameters, where a naive reading of the JSON would differ.

``Civi\\API\\Request::create`` applies each parameter through ``'set' . ucfirst($name)``: PHP finds methods
case-insensitively and the magic setter lower-cases the first letter, so ``Chain`` sets ``chain`` and
``JOIN`` calls ``setJoin``. The gateway reads every parameter it interprets under its canonical name,
whatever the case, and refuses a call that names one twice.

Clauses and join specs are read by position (``$clause[0]``, ``array_shift($join)``); a JSON object in
their place is read only when its keys are ``"0"``, ``"1"``... in order, so position and key agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateway.dialects.civicrm.routes import AMBIGUOUS_PARAMETER
from gateway.errors import BadRequest

READ_PARAMS = (
    "chain", "checkPermissions", "defaults", "filters", "groupBy", "having", "join", "match", "orderBy",
    "records", "reload", "select", "values", "where",
)  # fmt: skip
"""The parameters whose content names entities, actions or fields."""
_BY_LOWER = {name.lower(): name for name in READ_PARAMS}


def canonical_params(params: dict[str, Any], names: Iterable[str] = READ_PARAMS) -> dict[str, Any]:
    """``params`` with every interpreted parameter under its canonical name; BadRequest when two keys
    set the same one (``chain`` and ``Chain``: the server would apply both, the last one winning)."""
    by_lower = _BY_LOWER if names is READ_PARAMS else {name.lower(): name for name in names}
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = by_lower.get(key.lower(), key)
        if name in out:
            raise BadRequest(f"APIv4 parameter '{name}' is given twice", reason=AMBIGUOUS_PARAMETER)
        out[name] = value
    return out


def positional(value: Any, what: str) -> list[Any]:
    """The items of a PHP array read by position: a JSON list, or an object keyed ``"0"``..``"n-1"`` in
    order. Another object is refused; a scalar has no items."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        if list(value) != [str(i) for i in range(len(value))]:
            raise BadRequest(f"APIv4 {what} must be a list", reason="bad-clause")
        return list(value.values())
    return []


def values_of(value: Any) -> list[Any]:
    """A PHP array's values in order (JSON list or object); nothing for a scalar."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return []
