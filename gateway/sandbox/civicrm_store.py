"""The sandbox CiviCRM site's small in-memory database.

Records live in one :class:`CiviStore` per app: a Contact (with its ``api_key``), an Email and, for a
contact with a CMS account, a UFMatch for every configured contact, plus a few Activities,
Contributions, Groups and GroupContacts. ``civicrm_api3.v3_call`` and ``civicrm_api4.v4_call`` are the
two APIs over it, answering in the real shapes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway.sandbox.civicrm_config import SandboxContact


class ApiError(Exception):
    """An API failure: v3 renders it as ``is_error``, v4 as ``error_message`` with ``status``."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


FIELDS: Mapping[str, Mapping[str, str]] = {
    "Contact": {
        "id": "int",
        "contact_type": "str",
        "display_name": "str",
        "first_name": "str",
        "last_name": "str",
        "email": "str",
        "api_key": "str",
        "external_identifier": "str",
        "is_deleted": "bool",
    },
    "Email": {
        "id": "int",
        "contact_id": "int",
        "email": "str",
        "is_primary": "bool",
        "location_type_id": "int",
    },
    "Activity": {
        "id": "int",
        "activity_type_id": "int",
        "subject": "str",
        "source_contact_id": "int",
        "status_id": "int",
        "activity_date_time": "str",
    },
    "Contribution": {
        "id": "int",
        "contact_id": "int",
        "financial_type_id": "int",
        "total_amount": "money",
        "currency": "str",
        "receive_date": "str",
        "contribution_status_id": "int",
    },
    "Group": {"id": "int", "name": "str", "title": "str", "is_active": "bool"},
    "GroupContact": {"id": "int", "group_id": "int", "contact_id": "int", "status": "str"},
    "UFMatch": {"id": "int", "domain_id": "int", "uf_id": "int", "uf_name": "str", "contact_id": "int"},
}
REQUIRED: Mapping[str, tuple[str, ...]] = {
    "Contact": ("contact_type",),
    "Email": ("contact_id", "email"),
    "Activity": ("activity_type_id", "source_contact_id"),
    "Contribution": ("contact_id", "financial_type_id", "total_amount"),
    "Group": ("title",),
    "GroupContact": ("group_id", "contact_id"),
    "UFMatch": ("uf_id", "contact_id"),
}
FOREIGN_KEYS: Mapping[str, str] = {
    "contact_id": "Contact",
    "source_contact_id": "Contact",
    "group_id": "Group",
}


class CiviStore:
    def __init__(self, contacts: Sequence[SandboxContact]) -> None:
        self._rows: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in FIELDS}
        self._next: dict[str, int] = dict.fromkeys(FIELDS, 1)
        for c in contacts:
            first, _, last = c.display_name.partition(" ")
            self.create(
                "Contact",
                {
                    "id": c.id,
                    "contact_type": "Individual",
                    "display_name": c.display_name,
                    "first_name": first,
                    "last_name": last,
                    "email": c.email,
                    "api_key": c.api_key,
                    "external_identifier": c.external_identifier,
                    "is_deleted": False,
                },
            )
            for n, email in enumerate(e for e in (c.email, *c.extra_emails) if e):
                self.create(
                    "Email", {"contact_id": c.id, "email": email, "is_primary": n == 0, "location_type_id": 1}
                )
            if c.user_id is not None:
                uf_name = c.username or c.email or f"user{c.user_id}"
                self.create(
                    "UFMatch", {"domain_id": 1, "uf_id": c.user_id, "uf_name": uf_name, "contact_id": c.id}
                )
        self.create("Group", {"name": "Newsletter", "title": "Newsletter subscribers", "is_active": True})
        self.create("Group", {"name": "Volunteers", "title": "Volunteers", "is_active": True})
        for n, c in enumerate(contacts[:3]):
            self.create("GroupContact", {"group_id": 1, "contact_id": c.id, "status": "Added"})
            self.create(
                "Activity",
                {
                    "activity_type_id": 1,
                    "subject": f"Meeting #{n + 1}",
                    "source_contact_id": c.id,
                    "status_id": 2,
                    "activity_date_time": f"2024-0{n + 1}-15 10:00:00",
                },
            )
            self.create(
                "Contribution",
                {
                    "contact_id": c.id,
                    "financial_type_id": 1,
                    "total_amount": 25.0 * (n + 1),
                    "currency": "EUR",
                    "receive_date": f"2024-0{n + 1}-20 00:00:00",
                    "contribution_status_id": 1,
                },
            )

    def all(self, entity: str) -> list[dict[str, Any]]:
        return [dict(row) for row in self._rows[entity].values()]

    def get(self, entity: str, record_id: int) -> dict[str, Any] | None:
        row = self._rows[entity].get(record_id)
        return dict(row) if row is not None else None

    def create(self, entity: str, values: Mapping[str, Any]) -> dict[str, Any]:
        record_id = int(values.get("id") or self._next[entity])
        self._next[entity] = max(self._next[entity], record_id + 1)
        row: dict[str, Any] = dict.fromkeys(FIELDS[entity])
        row.update({k: coerce(entity, k, v) for k, v in values.items() if k in FIELDS[entity]})
        row["id"] = record_id
        self._rows[entity][record_id] = row
        return dict(row)

    def update(self, entity: str, record_id: int, values: Mapping[str, Any]) -> dict[str, Any]:
        row = self._rows[entity][record_id]
        row.update({k: coerce(entity, k, v) for k, v in values.items() if k in FIELDS[entity] and k != "id"})
        return dict(row)

    def delete(self, entity: str, record_id: int) -> bool:
        return self._rows[entity].pop(record_id, None) is not None

    def resolve(self, record: Mapping[str, Any], path: str) -> Any:
        """A field value, following ``fk_id.field`` implicit joins (``contact_id.display_name``)."""
        head, _, rest = path.partition(".")
        value = record.get(head)
        if not rest:
            return value
        target = FOREIGN_KEYS.get(head)
        joined = self.get(target, int(value)) if target and value is not None else None
        return self.resolve(joined, rest) if joined is not None else None


def field_kind(entity: str, path: str) -> str:
    head, _, rest = path.partition(".")
    if rest and head in FOREIGN_KEYS:
        return field_kind(FOREIGN_KEYS[head], rest)
    return FIELDS.get(entity, {}).get(head, "str")


def coerce(entity: str, name: str, value: Any) -> Any:
    kind = field_kind(entity, name)
    if value is None or (value == "" and kind != "str"):
        return None
    try:
        if kind == "int":
            return int(value)
        if kind == "money":
            return float(value)
        if kind == "bool":
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true")
    except (TypeError, ValueError):
        raise ApiError(f"{name} is not a valid {kind}") from None
    return value if isinstance(value, str) else str(value)
