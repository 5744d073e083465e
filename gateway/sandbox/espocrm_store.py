"""In-memory EspoCRM records for the sandbox: Lead, Account, Contact, Opportunity and what the API
does with them (list, CRUD, relationships, lead conversion, mass actions, export, global search).

Pure data logic, no HTTP: every refusal is an :class:`EspoError` carrying the status and the
``X-Status-Reason`` text the real server would give.
"""

from __future__ import annotations

import csv
import io
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gateway.sandbox.espocrm_where import WhereError, matching, search_params

Record = dict[str, Any]

ENTITY_TYPES = ("Lead", "Account", "Contact", "Opportunity")
PERSON_TYPES = frozenset({"Lead", "Contact"})
LINKS: dict[tuple[str, str], tuple[str, str]] = {
    ("Account", "contacts"): ("Contact", "accountId"),
    ("Account", "opportunities"): ("Opportunity", "accountId"),
}
"""(entity, link) -> (linked entity, the foreign key on the linked record)."""
MAX_SIZE_LIMIT = 200

ACME, GLOBEX = "6b0343f1e9ac6e2c7", "6b0343f1e9ac6e2d1"
SEED: dict[str, list[Record]] = {
    "Account": [
        {"id": ACME, "name": "Acme Corporation", "type": "Customer", "website": "acme.example"},
        {"id": GLOBEX, "name": "Globex", "type": "Partner", "website": "globex.example"},
    ],
    "Contact": [
        {"id": "6b0343f1ef822e884", "firstName": "Ada", "lastName": "Lovelace", "accountId": ACME},
        {"id": "6b0343f1ef822e8a0", "firstName": "Grace", "lastName": "Hopper", "accountId": ACME},
        {"id": "6b0343f1ef822e8b5", "firstName": "Alan", "lastName": "Turing", "accountId": GLOBEX},
    ],
    "Opportunity": [
        {
            "id": "6b0343f200f586ef2",
            "name": "Acme renewal",
            "amount": 12000,
            "stage": "Prospecting",
            "accountId": ACME,
        },
    ],
    "Lead": [
        {"id": "6b0343f1f3e1a0c11", "firstName": "Jane", "lastName": "Doe", "status": "New"},
        {"id": "6b0343f1f3e1a0c22", "firstName": "John", "lastName": "Roe", "status": "Assigned"},
        {"id": "6b0343f1f3e1a0c33", "firstName": "Max", "lastName": "Mustermann", "status": "New"},
    ],
}


class EspoError(Exception):
    """A refusal: HTTP ``status`` and the ``X-Status-Reason`` text."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _int_param(params: Mapping[str, Any], name: str, default: int) -> int:
    raw = params.get(name)
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise EspoError(400, f"{name} must be integer.") from None
    if value < 0:
        raise EspoError(400, f"{name} must not be negative.")
    return value


def _id_list(data: Mapping[str, Any], what: str) -> list[str]:
    ids = data.get("ids")
    if ids is None and isinstance(data.get("id"), str):
        ids = [data["id"]]
    if not isinstance(ids, list) or not all(isinstance(item, str) for item in ids):
        raise EspoError(400, f"No {what} ids.")
    return ids


class EspoStore:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.records: dict[str, dict[str, Record]] = {entity: {} for entity in ENTITY_TYPES}
        self.exports: dict[str, bytes] = {}
        for entity, records in SEED.items():
            for record in records:
                self._put(entity, dict(record))

    def _stamp(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self._clock()))

    def _put(self, entity: str, record: Record) -> Record:
        if entity in PERSON_TYPES:
            record["name"] = f"{record.get('firstName') or ''} {record.get('lastName') or ''}".strip()
        record.setdefault("createdAt", self._stamp())
        record["modifiedAt"] = self._stamp()
        self.records[entity][record["id"]] = record
        return record

    def _table(self, entity: str) -> dict[str, Record]:
        table = self.records.get(entity)
        if table is None:
            raise EspoError(404, f"Entity type '{entity}' does not exist.")
        return table

    def get(self, entity: str, record_id: str) -> Record:
        record = self._table(entity).get(record_id)
        if record is None:
            raise EspoError(404, f"Record {entity} '{record_id}' not found.")
        return record

    # --- CRUD -------------------------------------------------------------------------------

    def list_records(self, entity: str, params: Mapping[str, str]) -> Record:
        return self._page(self._table(entity).values(), params)

    def page(self, records: Iterable[Record], params: Mapping[str, str]) -> Record:
        """List ``records`` (not held by the store, such as users) the way a list route does."""
        return self._page(records, params)

    def read(self, entity: str, record_id: str) -> Record:
        return dict(self.get(entity, record_id))

    def create(self, entity: str, data: object) -> Record:
        fields = self._fields(data)
        fields["id"] = secrets.token_hex(9)[:17]
        return dict(self._put(entity, fields))

    def update(self, entity: str, record_id: str, data: object) -> Record:
        record = self.get(entity, record_id)
        record.update(self._fields(data))
        return dict(self._put(entity, record))

    def delete(self, entity: str, record_id: str) -> bool:
        self.get(entity, record_id)
        del self.records[entity][record_id]
        return True

    def _fields(self, data: object) -> Record:
        if not isinstance(data, dict):
            raise EspoError(400, "Bad payload: a JSON object is expected.")
        return {key: value for key, value in data.items() if key not in ("id", "createdAt", "modifiedAt")}

    def _page(self, records: Iterable[Record], query: Mapping[str, str]) -> Record:
        try:
            params = search_params(query.items())
            found = matching(records, params.get("where"))
        except WhereError as error:
            raise EspoError(400, str(error)) from None
        max_size = _int_param(params, "maxSize", MAX_SIZE_LIMIT)
        if max_size > MAX_SIZE_LIMIT:
            raise EspoError(403, f"Max size should not exceed {MAX_SIZE_LIMIT}. Use offset and limit.")
        offset = _int_param(params, "offset", 0)
        text = str(params.get("q") or params.get("textFilter") or "").lower()
        found = [record for record in found if text in str(record.get("name", "")).lower()]
        order_by = params.get("orderBy")
        if isinstance(order_by, str) and order_by:
            descending = str(params.get("order", "")).lower() == "desc"
            found.sort(key=lambda record: str(record.get(order_by, "")), reverse=descending)
        select = params.get("select") or ""
        names = select.split(",") if isinstance(select, str) else [str(n) for n in select]
        page = found[offset : offset + max_size]
        if any(names):
            page = [{key: record.get(key) for key in ["id", *filter(None, names)]} for record in page]
        return {"total": len(found), "list": [dict(record) for record in page]}

    # --- relationships ----------------------------------------------------------------------

    def _link(self, entity: str, link: str) -> tuple[str, str]:
        target = LINKS.get((entity, link))
        if target is None:
            raise EspoError(404, f"Link '{link}' does not exist for '{entity}'.")
        return target

    def list_linked(self, entity: str, record_id: str, link: str, params: Mapping[str, str]) -> Record:
        linked_entity, foreign_key = self._link(entity, link)
        self.get(entity, record_id)
        linked = [r for r in self.records[linked_entity].values() if r.get(foreign_key) == record_id]
        return self._page(linked, params)

    def relate(self, entity: str, record_id: str, link: str, data: object, *, unlink: bool = False) -> bool:
        linked_entity, foreign_key = self._link(entity, link)
        self.get(entity, record_id)
        if not isinstance(data, dict):
            raise EspoError(400, "Bad payload: a JSON object is expected.")
        for linked_id in _id_list(data, "related record"):
            linked = self.get(linked_entity, linked_id)
            if not unlink:
                linked[foreign_key] = record_id
            elif linked.get(foreign_key) == record_id:
                linked[foreign_key] = None
        return True

    # --- actions ----------------------------------------------------------------------------

    def convert_lead(self, data: object) -> Record:
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise EspoError(400, "No lead id.")
        lead = self.get("Lead", data["id"])
        if lead.get("status") == "Converted":
            raise EspoError(409, "Lead is already converted.")
        records = data.get("records") or {}
        if not isinstance(records, dict):
            raise EspoError(400, "Bad records.")
        created: dict[str, str] = {}
        for entity in ("Account", "Contact", "Opportunity"):
            if entity in records:
                fields = self._fields(records[entity])
                if entity != "Account" and "Account" in created:
                    fields["accountId"] = created["Account"]
                created[entity] = self.create(entity, fields)["id"]
        lead["status"] = "Converted"
        for entity, new_id in created.items():
            lead[f"created{entity}Id"] = new_id
        return dict(self._put("Lead", lead))

    def mass_action(self, data: object) -> Record:
        if not isinstance(data, dict) or not isinstance(data.get("entityType"), str):
            raise EspoError(400, "No entityType.")
        entity, action = data["entityType"], data.get("action")
        table = self._table(entity)
        params = data.get("params") or {}
        ids = _id_list(params, "record") if isinstance(params, dict) and "ids" in params else list(table)
        if action == "update":
            for record_id in ids:
                self.update(entity, record_id, data.get("data") or {})
        elif action == "delete":
            for record_id in ids:
                self.delete(entity, record_id)
        else:
            raise EspoError(400, f"Mass action '{action}' is not supported by the sandbox.")
        return {"count": len(ids), "ids": ids}

    def export(self, data: object) -> Record:
        if not isinstance(data, dict) or not isinstance(data.get("entityType"), str):
            raise EspoError(400, "No entityType.")
        entity = data["entityType"]
        table = self._table(entity)
        ids = _id_list(data, "record") if "ids" in data else list(table)
        rows = [self.get(entity, record_id) for record_id in ids]
        attributes = data.get("attributeList") or ["id", "name"]
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(attributes)
        writer.writerows([[row.get(name, "") for name in attributes] for row in rows])
        attachment_id = secrets.token_hex(9)[:17]
        self.exports[attachment_id] = out.getvalue().encode()
        return {"id": attachment_id}

    def global_search(self, params: Mapping[str, str]) -> Record:
        text = (params.get("q") or "").lower()
        hits = [
            {"id": record["id"], "name": record.get("name"), "_scope": entity}
            for entity in ("Account", "Contact", "Lead", "Opportunity")
            for record in self.records[entity].values()
            if text in str(record.get("name", "")).lower()
        ]
        stripped = {key: value for key, value in params.items() if key not in ("q", "textFilter")}
        return self._page(hits, stripped)
