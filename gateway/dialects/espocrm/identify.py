"""Every (entity, action) an EspoCRM request touches, in Espo's ACL vocabulary, failing closed.

Actions: ``read``, ``create``, ``edit``, ``delete``, ``stream`` (the record's stream, followers and
subscription), ``star``, ``export``, and a custom action's own name (``/<Entity>/action/<name>``,
``POST /Action``, mass actions other than ``delete``/``update``). A route that is not an entity's
(system controllers, specific tool routes) is one opaque operation named ``<METHOD> <route pattern>``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from gateway.dialects.base import OPAQUE, Operation, RequestView
from gateway.dialects.espocrm.links import LinkMap, linked_entity
from gateway.dialects.espocrm.params import (
    dotted_links,
    ids_of,
    json_body,
    search_fields_from_object,
    string_field,
)
from gateway.dialects.espocrm.route_table import is_entity_name
from gateway.dialects.espocrm.routes import RouteMatch
from gateway.dialects.espocrm.where import list_reads, where_reads

READ, CREATE, EDIT, DELETE, STREAM = "read", "create", "edit", "delete", "stream"

ACTION_ALIASES = {
    "index": READ,
    "list": READ,
    "read": READ,
    "listlinked": READ,
    "create": CREATE,
    "update": EDIT,
    "createlink": EDIT,
    "removelink": EDIT,
    "delete": DELETE,
    "follow": STREAM,
    "unfollow": STREAM,
}
"""``/<Entity>/action/<name>`` names that reach a record controller's CRUD methods. PHP finds
methods case-insensitively, so the name is compared lower-cased."""

MASS_ACTIONS = {"delete": DELETE, "update": EDIT}
LEAD_CONVERT_TARGETS = ("Account", "Contact", "Opportunity")

_READS_MEMO_SIZE = 4096
_READS_MEMO_PAIRS = 16
_READS_MEMO_CHARS = 2048

BODY_KINDS = frozenset(
    {"create", "update", "link-relate", "link-unrelate", "action", "mass-action", "export"}
)


def opaque(action: str) -> Operation:
    return Operation(OPAQUE, action)


def is_lead_convert(match: RouteMatch) -> bool:
    return (
        match.kind == "entity-action"
        and match.scope == "Lead"
        and match.params.get("action", "").lower() == "convert"
        and match.route.method == "POST"
    )


def names_an_entity(match: RouteMatch) -> bool:
    """False when the route's controller segment is a system controller or no identifier."""
    return match.scope is None or is_entity_name(match.scope)


def needs_body(match: RouteMatch) -> bool:
    return names_an_entity(match) and (match.kind in BODY_KINDS or is_lead_convert(match))


class Classifier:
    """Turns a matched route into operations; built once per upstream from its link map."""

    def __init__(
        self, links: LinkMap, allow_unknown_links: bool, allow_parameters: frozenset[str] = frozenset()
    ) -> None:
        self.allow_parameters = allow_parameters
        self.links = links
        self.allow_unknown_links = allow_unknown_links
        self._read_memo: dict[tuple[tuple[str, str], ...], frozenset[str]] = {}
        self._kinds: dict[str, Callable[[RouteMatch, RequestView, str], list[Operation]]] = {
            "list": self._list,
            "read": lambda m, v, e: [Operation(e, READ, record_ids=(m.params["id"],))],
            "create": self._create,
            "update": self._update,
            "delete": lambda m, v, e: [Operation(e, DELETE, record_ids=(m.params["id"],))],
            "entity-action": self._entity_action,
            "link-read": self._link_read,
            "link-relate": self._link_change,
            "link-unrelate": self._link_change,
            "stream-read": lambda m, v, e: self._on_record(m, e, READ, STREAM),
            "subscription": lambda m, v, e: self._on_record(m, e, READ, STREAM),
            "star": lambda m, v, e: self._on_record(m, e, READ, "star"),
            "followers-read": lambda m, v, e: [*self._on_record(m, e, READ, STREAM), _users("followers")],
            "followers-write": lambda m, v, e: [*self._on_record(m, e, EDIT, STREAM), _users("followers")],
            "users-access": lambda m, v, e: [*self._on_record(m, e, READ), _users("usersAccess")],
            "kanban": self._list,
            "action": self._action,
            "mass-action": self._mass_action,
            "export": self._export,
        }

    def _reads(self, view: RequestView) -> frozenset[str]:
        """``list_reads`` of the query, memoised by its pairs (a pure function of them; a refusal is
        raised again each time). Bounded: emptied when full; long queries are read every time."""
        pairs = tuple(view.query.items())
        if len(pairs) > _READS_MEMO_PAIRS or sum(len(k) + len(v) for k, v in pairs) > _READS_MEMO_CHARS:
            return frozenset(list_reads(pairs, self.allow_parameters))
        found = self._read_memo.get(pairs)
        if found is None:
            if len(self._read_memo) >= _READS_MEMO_SIZE:
                self._read_memo.clear()
            found = self._read_memo[pairs] = frozenset(list_reads(pairs, self.allow_parameters))
        return found

    def classify(self, match: RouteMatch, view: RequestView) -> list[Operation]:
        handler = self._kinds.get(match.kind)
        if handler is None or not names_an_entity(match):
            return [opaque(match.opaque_action())]
        return handler(match, view, match.scope or "")

    # -- records ---------------------------------------------------------------------------------

    def _list(self, match: RouteMatch, view: RequestView, entity: str) -> list[Operation]:
        fields = self._reads(view)
        return [Operation(entity, READ, fields=fields), *self._foreign(entity, fields)]

    def _create(self, match: RouteMatch, view: RequestView, entity: str) -> list[Operation]:
        body = json_body(view, required=True)
        return [Operation(entity, CREATE, fields=frozenset(body))]

    def _update(self, match: RouteMatch, view: RequestView, entity: str) -> list[Operation]:
        body = json_body(view, required=True)
        return [Operation(entity, EDIT, fields=frozenset(body), record_ids=(match.params["id"],))]

    def _on_record(self, match: RouteMatch, entity: str, *actions: str) -> list[Operation]:
        return [Operation(entity, action, record_ids=(match.params["id"],)) for action in actions]

    def _entity_action(self, match: RouteMatch, view: RequestView, entity: str) -> list[Operation]:
        name = match.params["action"]
        if is_lead_convert(match):
            return self._lead_convert(view)
        return [Operation(entity, ACTION_ALIASES.get(name.lower(), name))]

    def _lead_convert(self, view: RequestView) -> list[Operation]:
        body = json_body(view, required=True)
        records = body.get("records")
        records = records if isinstance(records, dict) else {}
        ops = [Operation("Lead", EDIT, record_ids=ids_of(body.get("id")))]
        targets = list(LEAD_CONVERT_TARGETS) + [name for name in records if name not in LEAD_CONVERT_TARGETS]
        for target in targets:
            payload = records.get(target)
            fields = frozenset(payload) if isinstance(payload, dict) else frozenset()
            ops.append(Operation(target, CREATE, via="convert:Lead", fields=fields))
        return ops

    # -- relationships ---------------------------------------------------------------------------

    def _linked(self, entity: str, link: str, action: str, via: str, **extra: Any) -> list[Operation]:
        target = linked_entity(self.links, entity, link)
        if target is not None:
            return [Operation(target, action, via=f"{via}:{entity}.{link}", **extra)]
        return [] if self.allow_unknown_links else [opaque(f"link:{entity}.{link}")]

    def _foreign(self, entity: str, fields: Iterable[str]) -> list[Operation]:
        """Reads of linked entities through ``link.attribute`` search conditions."""
        ops: list[Operation] = []
        for link in sorted(dotted_links(set(fields))):
            ops.extend(self._linked(entity, link, READ, "where"))
        return ops

    def _link_read(self, match: RouteMatch, view: RequestView, entity: str) -> list[Operation]:
        link = match.params["link"]
        fields = self._reads(view)
        ops = [Operation(entity, READ, record_ids=(match.params["id"],))]
        ops.extend(self._linked(entity, link, READ, "link", fields=fields))
        target = linked_entity(self.links, entity, link)
        if target is not None:
            ops.extend(self._foreign(target, fields))
        return ops

    def _link_change(self, match: RouteMatch, view: RequestView, entity: str) -> list[Operation]:
        link = match.params["link"]
        body = json_body(view, required=False)
        ids = ids_of(body.get("id")) + ids_of(body.get("ids"))
        fields = where_reads(body.get("where")) if body.get("massRelate") else set()
        ops = [Operation(entity, EDIT, record_ids=(match.params["id"],))]
        ops.extend(self._linked(entity, link, EDIT, "link", fields=frozenset(fields), record_ids=ids))
        target = linked_entity(self.links, entity, link)
        if target is not None:
            ops.extend(self._foreign(target, fields))
        return ops

    # -- cross-entity routes (the entity type is in the body) ------------------------------------

    def _body_entity(self, match: RouteMatch, body: dict[str, Any]) -> str | None:
        entity = string_field(body, "entityType")
        return entity if entity is not None and is_entity_name(entity) else None

    def _action(self, match: RouteMatch, view: RequestView, _: str) -> list[Operation]:
        body = json_body(view, required=True)
        entity = self._body_entity(match, body)
        action = string_field(body, "action")
        if entity is None or action is None:
            return [opaque(match.opaque_action())]
        return [Operation(entity, action, via="body:Action", record_ids=ids_of(body.get("id")))]

    def _mass_action(self, match: RouteMatch, view: RequestView, _: str) -> list[Operation]:
        body = json_body(view, required=True)
        entity = self._body_entity(match, body)
        action = string_field(body, "action")
        if entity is None or action is None:
            return [opaque(match.opaque_action())]
        params = body.get("params")
        params = params if isinstance(params, dict) else {}
        fields = _selection_fields(params)
        data = body.get("data")
        if action == "update" and isinstance(data, dict):
            fields |= set(data)
        op = Operation(
            entity,
            MASS_ACTIONS.get(action, action),
            via="body:MassAction",
            fields=frozenset(fields),
            record_ids=ids_of(params.get("ids")),
        )
        return [op, *self._foreign(entity, fields)]

    def _export(self, match: RouteMatch, view: RequestView, _: str) -> list[Operation]:
        body = json_body(view, required=True)
        entity = self._body_entity(match, body)
        if entity is None:
            return [opaque(match.opaque_action())]
        fields = _selection_fields(body) | search_fields_from_object(body)
        ids = ids_of(body.get("ids"))
        read = Operation(entity, READ, via="body:Export", fields=frozenset(fields), record_ids=ids)
        return [read, Operation(entity, "export", via="body:Export"), *self._foreign(entity, fields)]


def _selection_fields(params: dict[str, Any]) -> set[str]:
    """Fields named by a mass action's or export's record selection (``where``, ``searchParams``)."""
    fields = where_reads(params.get("where"))
    for key in ("searchParams", "selectData"):
        nested = params.get(key)
        if isinstance(nested, dict):
            fields |= search_fields_from_object(nested)
    return fields


def _users(via: str) -> Operation:
    """The users a followers / access list names or returns."""
    return Operation("User", READ, via=via)
