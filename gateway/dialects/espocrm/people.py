"""Finding a person's EspoCRM user name (for ``act_as``, sent as ``X-Another-User``): one fixed list read.

``email``: ``GET <api>/User`` with ``where`` ``emailAddress`` equals the claim and ``type`` equals
``regular`` (EspoCRM lets an admin act only as a regular user), ``select=userName``, at most two rows:
the caller refuses anything but exactly one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from multidict import CIMultiDict

from gateway.dialects.directory import LookupUnreadable
from gateway.signers.base import OutboundRequest

MAX_ROWS = 2
_ATTRIBUTES = {"email": "emailAddress"}


class EspoCrmDirectory:
    ways: Mapping[str, frozenset[str]] = {"act_as": frozenset(_ATTRIBUTES)}

    def request(self, field: str, by: str, value: str, base_path: str, dialect: object) -> OutboundRequest:
        api_path = str(getattr(dialect, "api_path", "/api/v1"))
        where = [("equals", _ATTRIBUTES[by], value), ("equals", "type", "regular")]
        query = [("select", "userName"), ("maxSize", str(MAX_ROWS))]
        for index, (kind, attribute, wanted) in enumerate(where):
            query += [
                (f"where[{index}][type]", kind),
                (f"where[{index}][attribute]", attribute),
                (f"where[{index}][value]", wanted),
            ]
        headers = CIMultiDict[str]()
        headers["Accept"] = "application/json"
        return OutboundRequest(
            method="GET",
            path=f"{base_path}{api_path}/User",
            query=query,
            headers=headers,
            base_path=base_path,
        )

    def matches(self, field: str, status: int, body: bytes) -> list[str]:
        if status != 200:
            raise LookupUnreadable(f"EspoCRM answered HTTP {status}")
        try:
            answer = json.loads(body)
        except ValueError:
            raise LookupUnreadable("EspoCRM's answer is not JSON") from None
        rows = answer.get("list") if isinstance(answer, dict) else None
        total = answer.get("total") if isinstance(answer, dict) else None
        if not isinstance(rows, list) or isinstance(total, bool) or not isinstance(total, int):
            raise LookupUnreadable("EspoCRM's answer carries no list")
        found: list[str] = []
        for row in rows:
            name = row.get("userName") if isinstance(row, dict) else None
            if not isinstance(name, str):
                raise LookupUnreadable("a row carries no user name")
            if name not in found:
                found.append(name)
        if total > len(rows):
            found.append("(more rows not read)")
        return found
