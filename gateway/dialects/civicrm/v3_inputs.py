"""APIv3 inputs whose values are field names or nested calls, and the actions the gateway knows.

Read in civicrm-core master (2026-12): ``api/v3/Generic/Getlist.php`` (``getlist`` runs
``civicrm_api3($entity, 'get', $request['params'])`` on its nested ``params``, chains included, and takes
field names as values: ``search_field``, ``label_field``, ``description_field``, ``id_field``,
``image_field``, ``color_field``, ``extra``), ``api/v3/Generic.php`` (``getvalue`` ``return``,
``getoptions`` ``field``, ``getfield``/``getfields`` ``name``), ``api/v3/utils.php``
(``_civicrm_api3_get_options_from_params``: ``return``, ``return.x``, ``options.sort`` checked only by
``CRM_Utils_Rule::mysqlOrderBy``, which admits ``field(x,1)``, backticks and table prefixes).

A value the gateway cannot reduce to plain field names is refused: a sort item must be ``name`` or
``name ASC|DESC``; a field name must be an identifier.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from gateway.errors import BadRequest

GENERIC_ACTIONS = frozenset(
    {
        "get", "getsingle", "getcount", "getvalue", "getlist", "getoptions", "getfields", "getfield",
        "getactions", "getrefcount", "getunique", "create", "delete", "replace", "update", "setvalue",
        "validate", "check",
    }
)  # fmt: skip
ENTITY_ACTIONS = frozenset(
    {
        "getquick", "duplicatecheck", "merge", "get_merge_conflicts", "proximity", "getmergedto",
        "getmergedfrom", "type_create", "execute", "flush", "getdefaults", "revert", "fill", "send_test",
        "preview", "submit", "clone", "completetransaction", "sendconfirmation", "repeattransaction",
        "transact", "cancel", "refund", "getdetails", "addtimeline", "restore", "apply", "install",
        "enable", "disable", "uninstall", "download", "refresh", "gettree", "send", "geocode",
        "process_mailing", "send_reminder", "getcontact", "getstats", "getattachments", "gettokens",
        "getmissingindices", "createmissingindices", "updateindexes", "utf8conversion", "log",
        "getaclpermission", "getrecipientcount", "process_membership", "update_greeting",
    }
)  # fmt: skip
"""Entity-specific v3 actions in civicrm-core (``civicrm_api3_<entity>_<action>``)."""
KNOWN_ACTIONS = GENERIC_ACTIONS | ENTITY_ACTIONS

GETLIST_FIELDS = (
    "search_field", "label_field", "description_field", "id_field", "image_field", "color_field", "extra",
    "search_field_fallback",
)  # fmt: skip
FIELD_VALUED: Mapping[str, tuple[str, ...]] = {
    "getlist": GETLIST_FIELDS,
    "getvalue": ("return",),
    "getoptions": ("field",),
    "getfield": ("name",),
    "getfields": ("name",),
    "getunique": ("name",),
    "setvalue": ("field",),
}
"""Action -> parameters whose values are field names of the call's entity."""
NOT_FIELDS: Mapping[str, frozenset[str]] = {
    "getlist": frozenset({"input", "page_num", "add_wildcard", "params", "id", *GETLIST_FIELDS}),
    "getoptions": frozenset({"field", "context"}),
    "getfield": frozenset({"name", "api_action"}),
    "getfields": frozenset({"name", "api_action", "get_options"}),
    "getunique": frozenset({"name"}),
    "setvalue": frozenset({"field", "value", "id"}),
}
"""Action -> parameters that are not filters on a field of the same name."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SORT_ITEM = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)(?:\s+(?:ASC|DESC))?\s*", re.I)
_CREDENTIALS = frozenset({"key", "api_key", "_authx", "_authxSiteKey"})


def check_action(action: str) -> None:
    if action not in KNOWN_ACTIONS:
        raise BadRequest(f"Unknown APIv3 action '{action}'", reason="unknown-action")


def field_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value.strip()):
        raise BadRequest(f"APIv3 '{what}' must name a field", reason="bad-field")
    return value.strip()


def names_in(value: Any, what: str) -> set[str]:
    """Field names in ``return``-like values: ``a,b``, ``[a, b]``, ``{a: 1}`` or ``{0: a}``."""
    if isinstance(value, str):
        return {field_name(part, what) for part in value.split(",") if part.strip()}
    if isinstance(value, dict):
        items: Iterable[Any] = (v if k.isdigit() else k for k, v in value.items())
    elif isinstance(value, list):
        items = value
    elif value is None or isinstance(value, bool | int):
        return set()
    else:
        raise BadRequest(f"APIv3 '{what}' must list fields", reason="bad-field")
    return {field_name(item, what) for item in items}


def sort_fields(value: Any) -> set[str]:
    """Fields an ``options.sort`` reads; anything but ``name [ASC|DESC]`` items is refused."""
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else None
    if isinstance(value, dict):
        items = list(value.values())
    if items is None:
        return set()
    found: set[str] = set()
    for item in items:
        match = _SORT_ITEM.fullmatch(item) if isinstance(item, str) else None
        if match is None:
            raise BadRequest("APIv3 sort must be 'field' or 'field ASC|DESC'", reason="bad-sort")
        found.add(match.group(1))
    return found


def valued_fields(action: str, params: Mapping[str, Any]) -> set[str]:
    """Field names given as values of ``action``'s field-valued parameters."""
    found: set[str] = set()
    for name in FIELD_VALUED.get(action, ()):
        if name in params:
            found |= names_in(params[name], name)
    return found


def refuse_routing_in(base: Mapping[str, Any]) -> None:
    """``json`` (or a WordPress JSON body's ``json``) that names an entity or action is ambiguous."""
    for name in ("entity", "action"):
        if name in base:
            raise BadRequest(f"Ambiguous route: '{name}' inside 'json'", reason="ambiguous-route")


def refuse_credentials_in(body: Mapping[str, Any], where: str) -> None:
    """A credential name in a JSON body or nested ``json`` would override (or sit beside) the one the
    gateway injects: refused."""
    for name in body:
        if name in _CREDENTIALS:
            raise BadRequest(f"A credential parameter inside the {where}", reason="credential-in-body")
