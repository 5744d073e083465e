"""Where a CiviCRM request says what it wants: PHP-style parameters and the route.

CiviCRM runs on PHP, so request parameters are read the way PHP fills ``$_GET``/``$_POST``
(``a.b`` becomes ``a_b``, ``a[x][]=1`` builds nested arrays, the last value wins). The route
lives in the path (clean URLs), in ``q`` (Drupal 7, WordPress), in ``task`` (Joomla) or in
``rest_route`` (WordPress REST); a request that names two different routes is refused.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from gateway.dialects.base import RequestView
from gateway.dialects.phpparams import php_name as php_name
from gateway.dialects.phpparams import php_parse as php_parse
from gateway.dialects.phpparams import php_parse_named
from gateway.errors import BadRequest, Forbidden

CMS_CHOICES = ("auto", "drupal", "backdrop", "wordpress", "joomla", "standalone")

_CARRIERS: Mapping[str, frozenset[str]] = {
    "auto": frozenset({"path", "q", "task", "rest_route", "wp-json"}),
    "drupal": frozenset({"path", "q"}),
    "backdrop": frozenset({"path", "q"}),
    "wordpress": frozenset({"path", "q", "rest_route", "wp-json"}),
    "joomla": frozenset({"task"}),
    "standalone": frozenset({"path", "q"}),
}
_ENTRY_POINTS: Mapping[str, frozenset[str]] = {
    "drupal": frozenset({"/", "/index.php"}),
    "backdrop": frozenset({"/", "/index.php"}),
    "standalone": frozenset({"/", "/index.php"}),
    "wordpress": frozenset({"/", "/index.php", "/wp-admin/admin.php"}),
    "joomla": frozenset({"/", "/index.php", "/administrator", "/administrator/index.php"}),
}
_QUALIFIERS = (("page", "civicrm"), ("civiwp", "civicrm"), ("option", "com_civicrm"))
_LOGIN_ROUTES = frozenset({"civicrm/login", "civicrm/authx/login"})
AMBIGUOUS_PARAMETER = "ambiguous-parameter"


@dataclass(slots=True)
class Sources:
    """The request parameters once parsed: PHP ``$_GET`` and ``$_POST`` plus every raw value
    given for each base name (to catch a name given twice with different values)."""

    query: dict[str, Any]
    form: dict[str, Any]
    raw: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)

    @classmethod
    def of(cls, view: RequestView) -> Sources:
        query_items = [(php_name(name), value) for name, value in view.query.items()]
        form_items = [(php_name(name), value) for name, value in view.form.items()] if view.form else []
        raw: dict[str, list[tuple[str, bool]]] = {}
        for parsed, value in (*query_items, *form_items):
            if parsed is not None:
                raw.setdefault(parsed[0], []).append((value, bool(parsed[1])))
        return cls(php_parse_named(query_items), php_parse_named(form_items), raw)

    def merged(self) -> dict[str, Any]:
        """``array_merge($_GET, $_POST)``: the body wins."""
        return {**self.query, **self.form}

    def single(self, name: str) -> str | None:
        """The one value of ``name`` wherever it was given; BadRequest if it was given as an
        array or with different values."""
        given = self.raw.get(name)
        if not given:
            return None
        if any(bracketed for _, bracketed in given):
            raise BadRequest(f"Parameter '{name}' must be a single value", reason=AMBIGUOUS_PARAMETER)
        values = {value for value, _ in given}
        if len(values) > 1:
            raise BadRequest(f"Parameter '{name}' given with different values", reason=AMBIGUOUS_PARAMETER)
        return next(iter(values)) if values else None

    def present(self, name: str) -> bool:
        return name in self.raw


class Kind(enum.Enum):
    REST_PHP = "v3 rest.php"
    AJAX_REST = "v3 ajax"
    API_JSON = "v3 api/json"
    WP_REST = "v3 WP REST"
    API4 = "v4"
    API4_BATCH = "v4 batch"
    OTHER = "other"


V3_KINDS = frozenset({Kind.REST_PHP, Kind.AJAX_REST, Kind.API_JSON, Kind.WP_REST})
V4_KINDS = frozenset({Kind.API4, Kind.API4_BATCH})


@dataclass(frozen=True, slots=True)
class Route:
    kind: Kind
    name: str
    """Canonical route: ``civicrm/ajax/rest``, ``extern/rest.php``, ``wp-json/civicrm/v3/rest``,
    or the path itself (``/some/page``) when no CiviCRM route applies."""
    entity: str = ""
    action: str = ""

    @property
    def is_api(self) -> bool:
        return self.kind in V3_KINDS or self.kind in V4_KINDS

    @property
    def is_ajax(self) -> bool:
        return (
            self.kind in (Kind.AJAX_REST, Kind.API_JSON)
            or self.kind in V4_KINDS
            or (self.name.lower().startswith("civicrm/ajax/"))
        )


def _ambiguous(why: str) -> BadRequest:
    return BadRequest(f"Ambiguous route: {why}", reason="ambiguous-route")


def _param_route(value: str) -> str:
    route = value.strip("/")
    for segment in route.split("/"):
        if segment in ("", ".", "..") or "\\" in segment or "%" in segment:
            raise BadRequest("Ambiguous route parameter", reason="ambiguous-path")
        if any(unicodedata.category(ch) == "Cc" for ch in segment):
            raise BadRequest("Ambiguous route parameter", reason="ambiguous-path")
    return route


def _path_candidate(path: str, cms: str) -> tuple[str, str] | None:
    """(location, route) for the path, or None when the path is a CMS entry point."""
    trimmed = path.rstrip("/") or "/"
    segments = trimmed.strip("/").split("/") if trimmed != "/" else []
    head = segments[0].lower() if segments else ""
    if head == "wp-json":
        return "wp-json", "/".join(["wp-json", *segments[1:]])
    if head == "civicrm":
        return "path", "/".join(segments)
    entry_points = _ENTRY_POINTS.get(cms) or frozenset().union(*_ENTRY_POINTS.values())
    if trimmed.lower() in entry_points:
        return None
    return "other", trimmed


def _check_qualifiers(sources: Sources, path: str) -> None:
    for name, expected in _QUALIFIERS:
        value = sources.single(name)
        if value is not None and value.lower() != expected:
            raise _ambiguous(f"'{name}' does not name CiviCRM")
    if path.rstrip("/").lower() == "/wp-admin/admin.php" and sources.single("page") is None:
        raise _ambiguous("WordPress admin route without page=CiviCRM")


def locate(view: RequestView, sources: Sources, cms: str) -> Route:
    """The one route the request names; BadRequest when it names two, Forbidden for a login."""
    trimmed = view.path.rstrip("/") or "/"
    lowered = trimmed.lower().split("/")
    if lowered[-2:] == ["extern", "rest.php"]:
        if sources.single("task") is not None or sources.single("rest_route") is not None:
            raise _ambiguous("rest.php takes no CMS route")
        return Route(Kind.REST_PHP, "extern/rest.php")
    candidates: list[tuple[str, str]] = []
    from_path = _path_candidate(view.path, cms)
    if from_path is not None:
        candidates.append(from_path)
    for carrier in ("q", "task", "rest_route"):
        value = sources.single(carrier)
        if value is not None:
            route = _param_route(value)
            candidates.append((carrier, f"wp-json/{route}" if carrier == "rest_route" else route))
    accepted = _CARRIERS[cms]
    for location, _ in candidates:
        if location != "other" and location not in accepted:
            raise _ambiguous(f"this upstream ({cms}) takes no route from '{location}'")
    routes = {route for _, route in candidates}
    if len(routes) > 1:
        raise _ambiguous("the request names two different routes")
    if any(location in ("q", "task", "rest_route") for location, _ in candidates):
        _check_qualifiers(sources, view.path)
    return classify(routes.pop() if routes else trimmed)


def classify(name: str) -> Route:
    """The route a canonical route name stands for (memoized for names up to 128 characters: a Route
    is immutable, and a refusal is raised afresh each time)."""
    return _classify_cached(name) if len(name) <= 128 else _classify(name)


def _classify(name: str) -> Route:
    parts = name.split("/")
    lowered = [part.lower() for part in parts]
    if lowered == ["wp-json", "civicrm", "v3", "rest"]:
        return Route(Kind.WP_REST, "wp-json/civicrm/v3/rest")
    if "/".join(lowered) in _LOGIN_ROUTES:
        raise Forbidden("Log in through the gateway, not CiviCRM", reason="login-route")
    head = lowered[:3]
    if head == ["civicrm", "ajax", "rest"] and len(parts) == 3:
        return Route(Kind.AJAX_REST, "civicrm/ajax/rest")
    if head == ["civicrm", "api", "json"] and len(parts) == 3:
        return Route(Kind.API_JSON, "civicrm/api/json")
    if head == ["civicrm", "ajax", "api4"]:
        if len(parts) == 3:
            return Route(Kind.API4_BATCH, "civicrm/ajax/api4")
        if len(parts) == 5 and parts[3] and parts[4]:
            return Route(Kind.API4, f"civicrm/ajax/api4/{parts[3]}/{parts[4]}", parts[3], parts[4])
        if len(parts) == 4:
            raise BadRequest("APIv4 route without an action", reason="bad-route")
    return Route(Kind.OTHER, name)


_classify_cached = lru_cache(maxsize=512)(_classify)
