"""Finding a person's contact id in CiviCRM: one fixed APIv4 ``get`` per kind of look-up.

- ``email``: ``Email.get`` (any of the contact's addresses; deleted contacts excluded);
- ``external_identifier``: ``Contact.get`` (unique in CiviCRM);
- ``uf_id`` / ``uf_name``: ``UFMatch.get``, the link between a CMS account (its id, or its unique name)
  and its contact, the same table AuthX itself consults.

The answer is read for distinct contact ids; the caller refuses anything but exactly one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from multidict import CIMultiDict

from gateway.dialects.directory import LookupUnreadable
from gateway.signers.base import OutboundRequest

ROW_LIMIT = 25
"""Rows read per look-up: enough to tell one contact from several (a contact may hold an address twice)."""
_QUERIES: dict[str, tuple[str, str, str, list[list[Any]]]] = {
    # by: (entity, field compared, field read, extra conditions)
    "email": ("Email", "email", "contact_id", [["contact_id.is_deleted", "=", False]]),
    "external_identifier": ("Contact", "external_identifier", "id", [["is_deleted", "=", False]]),
    "uf_id": ("UFMatch", "uf_id", "contact_id", []),
    "uf_name": ("UFMatch", "uf_name", "contact_id", []),
}


def _route_path(cms: str, route: str) -> tuple[str, list[tuple[str, str]]]:
    if cms == "wordpress":
        return "/wp-admin/admin.php", [("page", "CiviCRM"), ("q", route)]
    if cms == "joomla":
        return "/administrator/index.php", [("option", "com_civicrm"), ("task", route)]
    return "/" + route, []


class CiviCrmDirectory:
    ways: Mapping[str, frozenset[str]] = {"contact_id": frozenset(_QUERIES)}

    def request(self, field: str, by: str, value: str, base_path: str, dialect: object) -> OutboundRequest:
        cms = str(getattr(dialect, "cms", "auto"))
        entity, compared, read, extra = _QUERIES[by]
        compared_value: Any = int(value) if by == "uf_id" and value.isdigit() else value
        params = {"select": [read], "where": [[compared, "=", compared_value], *extra], "limit": ROW_LIMIT}
        path, query = _route_path(cms, f"civicrm/ajax/api4/{entity}/get")
        headers = CIMultiDict[str]()
        headers["X-Requested-With"] = "XMLHttpRequest"
        headers["Accept"] = "application/json"
        return OutboundRequest(
            method="POST",
            path=base_path + path,
            query=query,
            headers=headers,
            base_path=base_path,
            form=[("params", json.dumps(params, separators=(",", ":")))],
        )

    def matches(self, field: str, status: int, body: bytes) -> list[str]:
        if status != 200:
            raise LookupUnreadable(f"CiviCRM answered HTTP {status}")
        try:
            answer = json.loads(body)
        except ValueError:
            raise LookupUnreadable("CiviCRM's answer is not JSON") from None
        values = answer.get("values") if isinstance(answer, dict) else None
        if not isinstance(values, list) or "error_message" in answer:
            raise LookupUnreadable("CiviCRM's answer carries no values")
        found: list[str] = []
        for row in values:
            cid = row.get("contact_id", row.get("id")) if isinstance(row, dict) else None
            if isinstance(cid, bool) or not isinstance(cid, int | str):
                raise LookupUnreadable("a row carries no contact id")
            if str(cid) not in found:
                found.append(str(cid))
        if len(values) >= ROW_LIMIT and len(found) < 2:
            found.append("(more rows not read)")  # cannot tell one contact from several: ambiguous
        return found
