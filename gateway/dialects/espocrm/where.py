"""EspoCRM search parameters as the server reads them: every ``where`` item type, and the list parameters.

Read in espocrm master (2026-12): ``Core/Select/Where/Item.php`` (an item is ``type``, ``attribute`` (or
``field``), ``value``, ``dateTime``, ``date``, ``timeZone``; ``and``/``or`` hold a list of items),
``Core/Select/Where/Item/Type.php`` and ``ItemGeneralConverter.php`` (the types and what each reads),
``ItemConverters/InCategory.php``, ``IsUserFromTeams.php``, and ``Core/Record/SearchParamsFetcher.php`` (a
``searchParams`` JSON, or ``where``/``whereGroup``, ``select``/``attributeSelect``, ``orderBy``/``sortBy``,
``order``/``asc``, ``maxSize``, ``offset``, ``q``, ``textFilter``, ``primaryFilter``, ``boolFilterList``,
``filterList``).

An attribute is a field read (``link.attribute`` a read of the linked entity); the types that name a link
(``linkedWith``, ``notLinkedWith``, ``linkedWithAll``, ``isLinked``, ``isNotLinked``, the ``column*`` types,
``inCategory``, ``isUserFromTeams``) read the linked entity: they are reported as ``link.id``. An
``expression`` item (an ORM expression) and an unknown type are refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from gateway.dialects.espocrm.jsonparse import parse_json
from gateway.dialects.phpparams import php_parse
from gateway.errors import BadRequest

BAD_WHERE = "bad-where"
UNKNOWN_PARAMETER = "unknown-parameter"
_MAX_DEPTH = 64

NESTED = frozenset({"and", "or", "not", "subQueryIn", "subQueryNotIn"})
NO_ATTRIBUTE = frozenset({"any", "none"})
LINK_TYPES = frozenset(
    {
        "linkedWith", "notLinkedWith", "linkedWithAll", "isLinked", "isNotLinked", "inCategory",
        "isUserFromTeams", "columnLike", "columnIn", "columnNotIn", "columnIsNull", "columnIsNotNull",
        "columnEquals", "columnNotEquals",
    }
)  # fmt: skip
ATTRIBUTE_TYPES = frozenset(
    {
        "in", "notIn", "equals", "notEquals", "on", "notOn", "like", "notLike", "startsWith", "endsWith",
        "contains", "notContains", "greaterThan", "lessThan", "greaterThanOrEquals", "lessThanOrEquals",
        "after", "before", "between", "ever", "isNull", "isNotNull", "isTrue", "isFalse", "today", "past",
        "future", "lastSevenDays", "lastXDays", "nextXDays", "olderThanXDays", "afterXDays", "currentMonth",
        "nextMonth", "lastMonth", "currentQuarter", "lastQuarter", "currentYear", "lastYear",
        "currentFiscalYear", "lastFiscalYear", "currentFiscalQuarter", "lastFiscalQuarter", "arrayAnyOf",
        "arrayNoneOf", "arrayAllOf", "arrayIsEmpty", "arrayIsNotEmpty",
    }
)  # fmt: skip
ITEM_KEYS = frozenset({"type", "attribute", "field", "value", "dateTime", "date", "timeZone"})
_ATTRIBUTE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?")

LIST_PARAMS = frozenset(
    {
        "searchParams", "where", "whereGroup", "select", "attributeSelect", "orderBy", "sortBy", "order",
        "asc", "maxSize", "offset", "q", "textFilter", "primaryFilter", "boolFilterList", "filterList",
    }
)  # fmt: skip
SEARCH_PARAMS_KEYS = frozenset(
    {
        "where", "select", "orderBy", "order", "maxSize", "offset", "q", "textFilter", "primaryFilter",
        "boolFilterList", "filterList", "noFullTextSearch", "maxTextAttributeLength",
    }
)  # fmt: skip
_SELECTS = ("select", "attributeSelect")
_ORDERS = ("orderBy", "sortBy")


def _bad(why: str) -> BadRequest:
    return BadRequest(f"Search condition refused: {why}.", reason=BAD_WHERE)


def _items(value: Any) -> list[Any]:
    """A PHP/JSON list of items: a list, or a dict keyed ``"0"``..``"n-1"`` in order."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and list(value) == [str(i) for i in range(len(value))]:
        return list(value.values())
    raise _bad("a group's value must be a list of items")


def attribute_name(value: Any) -> str:
    if not isinstance(value, str) or not _ATTRIBUTE.fullmatch(value):
        raise _bad("an attribute must be a field name or link.field")
    return value


def where_reads(where: Any, depth: int = 0) -> set[str]:
    """Every attribute a where tree reads; a link-naming item reads ``link.id``."""
    if depth > _MAX_DEPTH:
        raise _bad("nested too deeply")
    found: set[str] = set()
    for item in _items(where):
        if not isinstance(item, dict):
            raise _bad("an item must be an object")
        unknown = set(item) - ITEM_KEYS
        if unknown:
            raise _bad(f"unknown item key '{sorted(unknown)[0]}'")
        kind = item.get("type")
        raw = item.get("attribute") if item.get("attribute") not in (None, "") else item.get("field")
        if kind in NESTED:
            found |= where_reads(item.get("value"), depth + 1)
        elif kind in ATTRIBUTE_TYPES:
            found.add(attribute_name(raw))
        elif kind in LINK_TYPES:
            link = attribute_name(raw)
            found.add(link if "." in link else f"{link}.id")
        elif kind in NO_ATTRIBUTE:
            if raw not in (None, ""):
                found.add(attribute_name(raw))
        elif kind is None or kind == "":
            raise _bad("an item needs a type")
        elif kind == "expression":
            raise _bad("expression items are not read by the gateway")
        else:
            raise BadRequest(f"Unknown where item type '{kind}'.", reason="unknown-where-type")
    return found


def _names(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        return [attribute_name(part.strip()) for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        return [attribute_name(item) for item in value]
    if value is None:
        return []
    raise _bad("a field list must be names")


def search_object_reads(params: Mapping[str, Any]) -> set[str]:
    """A ``searchParams`` object (or an export / mass-action selection): its keys are checked."""
    unknown = set(params) - SEARCH_PARAMS_KEYS
    if unknown:
        raise BadRequest(f"Unknown search parameter '{sorted(unknown)[0]}'.", reason=UNKNOWN_PARAMETER)
    found = set(_names(params.get("select"))) | where_reads(params.get("where"))
    order = params.get("orderBy")
    if order is not None:
        found |= set(_names(order))
    return found


def list_reads(pairs: Iterable[tuple[str, str]], allowed: frozenset[str] = frozenset()) -> set[str]:
    """Fields a list request reads, from its query parsed as PHP does; unknown parameters refused
    (``allowed``: let through besides the list parameters, such as the token slots' parameters)."""
    query = php_parse(pairs)
    for name in query:
        if name not in LIST_PARAMS and name not in allowed:
            raise BadRequest(f"Unknown list parameter '{name}'.", reason=UNKNOWN_PARAMETER)
    if "searchParams" in query:
        others = sorted(set(query) & (LIST_PARAMS - {"searchParams"}))
        if others:
            raise BadRequest(f"'{others[0]}' is ignored beside searchParams.", reason="ambiguous-parameter")
        parsed = parse_json(_text(query["searchParams"]), "searchParams")
        if not isinstance(parsed, dict):
            raise BadRequest("searchParams must be a JSON object.", reason="bad-search-params")
        return search_object_reads(parsed)
    found: set[str] = set()
    for name in ("where", "whereGroup"):
        if name in query:
            found |= where_reads(query[name])
    for name in (*_SELECTS, *_ORDERS):
        if query.get(name):  # the server reads the first given; the gateway reads both
            found |= set(_names(_text(query[name])))
    return found


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise BadRequest("A list parameter must be a single value.", reason="ambiguous-parameter")
    return value
