"""What an EspoCRM request says in its JSON body and list parameters, read the way the server reads them.

The server parses a body as JSON only when the first ``Content-Type`` header, cut at ``;`` and
lower-cased, is exactly ``application/json``; anything else reaches a record route as an empty
object. Where the gateway needs the body it therefore insists on that content type and a JSON
object (duplicate keys refused, so no two parsers can disagree about a value).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gateway.dialects.base import RequestView
from gateway.dialects.espocrm.jsonparse import parse_json
from gateway.dialects.espocrm.where import where_reads
from gateway.errors import BadRequest

JSON_TYPE = "application/json"


def espo_content_type(view: RequestView) -> str | None:
    values = view.headers.getall("Content-Type", [])
    if len(values) > 1:
        raise BadRequest("More than one Content-Type header.", reason="bad-content-type")
    return values[0].split(";", 1)[0].lower() if values else None


def json_body(view: RequestView, *, required: bool) -> dict[str, Any]:
    """The body as a JSON object; ``{}`` when it is empty and not ``required``."""
    body = view.body or b""
    if not body.strip():
        if required:
            raise BadRequest("This request needs a JSON body.", reason="body-required")
        return {}
    if espo_content_type(view) != JSON_TYPE:
        raise BadRequest("The request body must be sent as application/json.", reason="bad-content-type")
    parsed = parse_json(body, "The request body")
    if not isinstance(parsed, dict):
        raise BadRequest("The request body must be a JSON object.", reason="bad-json")
    return parsed


def string_field(body: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or value == "":
        raise BadRequest(f"The body needs a non-empty string '{key}'.", reason="bad-body")
    return value


def ids_of(value: Any) -> tuple[str, ...]:
    """Record ids from an ``id`` string or an ``ids`` list (other values yield nothing)."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(item for item in value if isinstance(item, str))
    return ()


def _names(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield from (part.strip() for part in value.split(",") if part.strip())
    elif isinstance(value, list):
        yield from (item for item in value if isinstance(item, str))


def search_fields_from_object(params: dict[str, Any]) -> set[str]:
    """Fields named by a search-params object (``select``, ``orderBy``, ``where``)."""
    fields: set[str] = set()
    for key in ("select", "attributeSelect", "orderBy", "sortBy", "attributeList", "fieldList"):
        fields.update(_names(params.get(key)))
    for key in ("where", "whereGroup"):
        fields |= where_reads(params.get(key))
    return fields


def php_key(name: str) -> str:
    """A query parameter name as PHP registers it: a NUL ends it (PHP reads a C string) and leading
    spaces are dropped, so `` where[0][attribute]`` is ``where[0][attribute]`` to the server."""
    return name.split("\x00", 1)[0].lstrip(" ")


def dotted_links(fields: set[str]) -> set[str]:
    """Link names used through ``link.attribute`` in search conditions (foreign attributes)."""
    return {name.split(".", 1)[0] for name in fields if "." in name}
