"""``CRM_Api4_Page_AJAX::getParamsFromRequest`` as the sandbox runs it (civicrm-core master, 2026-12).

``params`` (JSON) first; then every ``$_GET`` key that is not in ``params``, not ``params``, ``index`` or the
CMS route variable ``q``, and that the action accepts (``getActions`` for the action's exact name, then
``array_key_exists``: case-sensitive) is merged in as PHP parsed it. With query keys left over and an
action name ``getActions`` does not list, ``->single()`` throws: a server error.
"""

from __future__ import annotations

from typing import Any

from gateway.sandbox.civicrm_api4 import v4_accepts


class UnknownAction(Exception):
    """``getActions(...)->single()`` found no action of that exact name."""


def php_list(value: Any) -> Any:
    """A PHP array keyed 0..n-1 in order is a list once JSON-encoded (and to the API)."""
    if isinstance(value, dict):
        items = {k: php_list(v) for k, v in value.items()}
        return list(items.values()) if list(items) == [str(i) for i in range(len(items))] else items
    return value


def params_from_request(get: dict[str, Any], action: str, params: dict[str, Any]) -> dict[str, Any]:
    query = {k: v for k, v in get.items() if k not in params and k not in ("params", "index", "q")}
    if not query:
        return params
    accepted = v4_accepts(action)
    if accepted is None:
        raise UnknownAction(action)
    merged = dict(params)
    for key, value in query.items():
        if key in accepted:
            merged[key] = php_list(value)
    return merged
