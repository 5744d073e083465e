"""Where ``CRM_Api4_Page_AJAX`` reads a call's inputs, and the ``index`` it re-keys results by.

Single call (``civicrm/ajax/api4/Entity/action``), ``getParamsFromRequest``: ``params`` (JSON, from
``$_REQUEST``), then every ``$_GET`` key that is not in ``params``, not ``params``/``index``/the CMS route
variable, and that the action accepts as a parameter (exact name) is merged in, PHP-parsed
(``chain[x][]=Activity``). ``index`` is read from ``$_REQUEST`` beside them. Batch (``civicrm/ajax/api4``):
``calls`` from ``$_POST``, each ``[entity, action, params, index]``. Nothing else is read.

The gateway refuses a parameter given both in ``params`` and in the query (CiviCRM silently drops one), and
any other request parameter it does not know (reason ``unknown-parameter``), unless the upstream's
``allow_parameters`` names it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from gateway.dialects.civicrm.inputs import CREDENTIAL_PARAMS
from gateway.dialects.civicrm.routes import AMBIGUOUS_PARAMETER, Sources
from gateway.dialects.civicrm.v4_actions import UNKNOWN_PARAMETER, params_of
from gateway.errors import BadRequest

ROUTE_PARAMS = frozenset({"q", "page", "civiwp", "option", "task", "rest_route"})
"""CMS route carriers and qualifiers: read by the CMS, not by the API call (unless the action takes one)."""
SINGLE_READS = frozenset({"params", "index"})
BATCH_READS = frozenset({"calls"})
FIELD_REF = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?::[A-Za-z_]+)?")
_INTEGER = re.compile(r"-?\d+")


def _unknown(name: str, where: str) -> BadRequest:
    return BadRequest(f"Unknown parameter '{name}' in the {where}", reason=UNKNOWN_PARAMETER)


def _tolerated(name: str, allowed: frozenset[str]) -> bool:
    return name in CREDENTIAL_PARAMS or name in ROUTE_PARAMS or name in allowed


def merge_query(
    sources: Sources, action: str, params: dict[str, Any], allowed: frozenset[str]
) -> dict[str, Any]:
    """``getParamsFromRequest``: ``params`` plus the query keys the action accepts. Refuses a query key
    that is also in ``params``, a key the action does not accept (unless tolerated), and unknown body keys."""
    accepted = params_of(action)
    merged = dict(params)
    for name, value in sources.query.items():
        if name in SINGLE_READS:
            continue
        if name in accepted and name not in CREDENTIAL_PARAMS:
            if name in params:
                raise BadRequest(
                    f"Parameter '{name}' given in 'params' and in the query", reason=AMBIGUOUS_PARAMETER
                )
            merged[name] = value
        elif not _tolerated(name, allowed):
            raise _unknown(name, "query")
    check_body(sources.form, SINGLE_READS, allowed)
    return merged


def check_body(form: Mapping[str, Any], reads: frozenset[str], allowed: frozenset[str]) -> None:
    for name in form:
        if name not in reads and not _tolerated(name, allowed):
            raise _unknown(name, "body")


def check_batch(sources: Sources, allowed: frozenset[str]) -> None:
    for name in sources.query:
        if not _tolerated(name, allowed):
            raise _unknown(name, "query")
    check_body(sources.form, BATCH_READS, allowed)


def field_ref(value: Any, what: str) -> str:
    """A plain (possibly dotted, possibly ``:suffix``) field name, or BadRequest."""
    if not isinstance(value, str) or not FIELD_REF.fullmatch(value):
        raise BadRequest(f"APIv4 {what} must be a field name", reason="bad-field")
    return value


def index_fields(index: Any) -> list[str]:
    """The fields ``civicrm_api4(..., $index)`` reads: none for an integer (``itemAt``), the field for a
    string (``indexBy``), key and value for ``{key: value}`` (``column``). Other shapes are refused."""
    if (
        index is None
        or index == ""
        or index is False
        or (isinstance(index, int) and not isinstance(index, bool))
    ):
        return []
    if isinstance(index, str):
        return [] if _INTEGER.fullmatch(index.strip()) else [field_ref(index, "index")]
    if isinstance(index, dict) and len(index) == 1:
        key, value = next(iter(index.items()))
        fields = [field_ref(key, "index")]
        if value not in (None, ""):
            fields.append(field_ref(value, "index"))
        return fields
    raise BadRequest("APIv4 index must be a field name, a number or {key: value}", reason="bad-index")


def names(values: Iterable[Any], what: str) -> list[str]:
    return [field_ref(value, what) for value in values]


_SLOTS = ("entity", "action", "params", "index")


def batch_call(call: Any) -> list[Any]:
    """The arguments ``call_user_func_array`` would pass ``execute(entity, action, params, index)``."""
    if isinstance(call, list):
        return (call + [None] * 4)[:4]
    if not isinstance(call, dict):
        raise BadRequest("APIv4 batch call must be a list", reason="bad-batch")
    args: list[Any] = [None] * 4
    named = False
    for position, (key, value) in enumerate(call.items()):
        if key in _SLOTS:
            slot, named = _SLOTS.index(key), True
        else:
            slot = position if key == str(position) and not named and position < 4 else -1
        if slot < 0 or args[slot] is not None:
            raise BadRequest("APIv4 batch call has ambiguous arguments", reason="bad-batch")
        args[slot] = value
    return args
