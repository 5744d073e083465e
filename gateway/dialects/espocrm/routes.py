"""EspoCRM's API routes, matched the way the server's router (Slim + FastRoute) matches them.

The table is in ``route_table``. FastRoute tries the static routes of the method first, then the
variable ones in registration order, and answers a HEAD with the GET routes. A placeholder is one
non-empty segment.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.dialects.espocrm.route_table import CORE_ROUTES, CRM_ROUTES

OPAQUE_KIND = "opaque"


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: str
    kind: str
    segments: tuple[str, ...]

    @property
    def static(self) -> bool:
        return not any(seg.startswith(":") for seg in self.segments)


@dataclass(frozen=True, slots=True)
class RouteMatch:
    route: Route
    params: dict[str, str]

    @property
    def kind(self) -> str:
        return self.route.kind

    @property
    def scope(self) -> str | None:
        """The value of the leading ``:controller`` / ``:entityType`` placeholder, if the route has one."""
        return self.params.get("controller", self.params.get("entityType"))

    def opaque_action(self) -> str:
        """``<METHOD> <pattern>`` with the leading controller placeholder filled in."""
        first = self.route.segments[0] if self.route.segments else ""
        segments = list(self.route.segments)
        if first in (":controller", ":entityType") and self.scope is not None:
            segments[0] = self.scope
        return f"{self.route.method} /{'/'.join(segments)}"


def _parse(table: str) -> tuple[Route, ...]:
    routes: list[Route] = []
    for line in table.strip().splitlines():
        method, pattern, *kind = line.split()
        segments = tuple(pattern.strip("/").split("/")) if pattern != "/" else ()
        routes.append(Route(method, pattern, kind[0] if kind else OPAQUE_KIND, segments))
    return tuple(routes)


ROUTES: tuple[Route, ...] = _parse(CRM_ROUTES) + _parse(CORE_ROUTES)


def _bind(route: Route, segments: list[str]) -> dict[str, str] | None:
    if len(route.segments) != len(segments):
        return None
    params: dict[str, str] = {}
    for expected, actual in zip(route.segments, segments, strict=True):
        if expected.startswith(":"):
            if actual == "":
                return None
            params[expected[1:]] = actual
        elif expected != actual:
            return None
    return params


@dataclass(frozen=True, slots=True)
class _Candidates:
    """The variable routes of one method and segment count, in registration order: those that can
    match a given first segment, and those that can match any first segment (a placeholder there)."""

    by_first: dict[str, tuple[Route, ...]]
    any_first: tuple[Route, ...]

    def for_first(self, first: str) -> tuple[Route, ...]:
        return self.by_first.get(first, self.any_first)


@dataclass(frozen=True, slots=True)
class _MethodIndex:
    """One method's routes: the static ones by their segments, the variable ones by segment count."""

    static: dict[tuple[str, ...], Route]
    dynamic: dict[int, _Candidates]


def _candidates(group: list[Route]) -> _Candidates:
    literals = {route.segments[0] for route in group if not route.segments[0].startswith(":")}
    by_first = {
        literal: tuple(r for r in group if r.segments[0] == literal or r.segments[0].startswith(":"))
        for literal in literals
    }
    return _Candidates(by_first, tuple(r for r in group if r.segments[0].startswith(":")))


def _index(routes: tuple[Route, ...]) -> dict[str, _MethodIndex]:
    static: dict[str, dict[tuple[str, ...], Route]] = {}
    dynamic: dict[str, dict[int, list[Route]]] = {}
    for route in routes:
        if route.static:
            # The first registration wins, as in a linear scan.
            static.setdefault(route.method, {}).setdefault(route.segments, route)
        else:
            dynamic.setdefault(route.method, {}).setdefault(len(route.segments), []).append(route)
    return {
        method: _MethodIndex(
            static.get(method, {}),
            {count: _candidates(group) for count, group in dynamic.get(method, {}).items()},
        )
        for method in static.keys() | dynamic.keys()
    }


_INDEX: dict[str, _MethodIndex] = _index(ROUTES)
"""Built once: FastRoute's order (static routes first, then variable ones as registered) kept per method."""


def _match_method(method: str, segments: list[str]) -> RouteMatch | None:
    index = _INDEX.get(method)
    if index is None:
        return None
    route = index.static.get(tuple(segments))
    if route is not None:
        return RouteMatch(route, {})
    candidates = index.dynamic.get(len(segments))
    if candidates is None:
        return None
    for candidate in candidates.for_first(segments[0]):
        params = _bind(candidate, segments)
        if params is not None:
            return RouteMatch(candidate, params)
    return None


def match_route(method: str, path: str) -> RouteMatch | None:
    """The route the server dispatches ``method path`` to (``path`` relative to the API base,
    decoded, starting with ``/``), or ``None`` when it answers 404/405."""
    segments = [] if path == "/" else path[1:].split("/")
    found = _match_method(method, segments)
    if found is None and method == "HEAD":
        found = _match_method("GET", segments)
    return found
