"""EspoCRM's API routes, matched the way the server's router (Slim + FastRoute) matches them.

The table is EspoCRM 10's ``routes.json`` (Crm module first, then core: the server's registration
order). FastRoute tries the static routes of the method first, then the variable ones in
registration order, and answers a HEAD with the GET routes. A placeholder is one non-empty segment.
Every route is opaque except the kinds the dialect classifies; custom or extension routes are not in
the table, so a request for one is read as the generic route it would otherwise look like.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OPAQUE_KIND = "opaque"

_CRM_ROUTES = """
GET /Activities/:parentType/:id/composeEmailAddressList
GET /Activities/:parentType/:id/:type
GET /Activities/:parentType/:id/:type/list/:targetType
GET /Activities/upcoming
GET /Activities
GET /Timeline
GET /Timeline/busyRanges
GET /Meeting/:id/attendees
GET /Call/:id/attendees
POST /Campaign/:id/generateMailMerge
GET /TargetList/:id/optedOut
POST /Campaign/unsubscribe/:id
DELETE /Campaign/unsubscribe/:id
POST /Campaign/unsubscribe/:emailAddress/:hash
DELETE /Campaign/unsubscribe/:emailAddress/:hash
"""

_CORE_ROUTES = """
GET /
GET /App/user
POST /App/destroyAuthToken
GET /App/about
GET /App/appParams
GET /Metadata
GET /I18n
GET /Settings
PATCH /Settings
PUT /Settings
GET /Stream
GET /GlobalStream
GET /GlobalSearch
POST /LeadCapture/form/:id
POST /LeadCapture/:apiKey
OPTIONS /LeadCapture/:apiKey
POST /:controller/action/:action entity-action
PUT /:controller/action/:action entity-action
GET /:controller/action/:action entity-action
GET /:controller/layout/:name
PUT /:controller/layout/:name
PUT /:controller/layout/:name/:setId
POST /Admin/rebuild
POST /Admin/clearCache
GET /Admin/jobs
GET /Admin/fieldManager/:scope/:name
POST /Admin/fieldManager/:scope
PUT /Admin/fieldManager/:scope/:name
PATCH /Admin/fieldManager/:scope/:name
DELETE /Admin/fieldManager/:scope/:name
GET /CurrencyRate
PUT /CurrencyRate
POST /Action action
POST /MassAction mass-action
GET /MassAction/:id/status
POST /MassAction/:id/subscribe
POST /Export export
GET /Export/:id/status
POST /Export/:id/subscribe
POST /Import
POST /Import/file
POST /Import/:id/revert
POST /Import/:id/removeDuplicates
POST /Import/:id/unmarkDuplicates
POST /Import/:id/exportErrors
PUT /Kanban/order
GET /Kanban/:entityType kanban
GET /Attachment/file/:id
POST /Attachment/chunk/:id
POST /Attachment/fromImageUrl
POST /Attachment/copy/:id
POST /Note/:id/myReactions/:type
DELETE /Note/:id/myReactions/:type
GET /Note/:id/reactors/:type
GET /Notification/:id/group
GET /Notification/group
DELETE /Notification/group/:id
POST /Notification/group/:id/markRead
POST /EmailTemplate/:id/prepare
POST /Email/:id/attachments/copy
POST /Email/importEml
POST /Email/sendTest
POST /Email/inbox/read
DELETE /Email/inbox/read
POST /Email/inbox/important
DELETE /Email/inbox/important
POST /Email/inbox/inTrash
DELETE /Email/inbox/inTrash
POST /Email/inbox/folders/:folderId
GET /Email/inbox/notReadCounts
GET /Email/insertFieldData
POST /Email/:id/users
GET /EmailAddress/search
GET /User/:id/stream/own
GET /User/:id/acl
POST /UserSecurity/apiKey/generate
PUT /UserSecurity/password
POST /UserSecurity/password/recovery
POST /UserSecurity/password/generate
POST /User/passwordChangeRequest
POST /User/changePasswordByRequest
PUT /Team/:id/userPosition
POST /EmailAccount/:id/resetFetchData
POST /InboundEmail/:id/resetFetchData
GET /Oidc/authorizationData
POST /Oidc/backchannelLogout
POST /OAuth/:id/connection
DELETE /OAuth/:id/connection
GET /OpenApi
GET /:controller/:id read
GET /:controller list
POST /:controller create
PUT /:controller/:id update
PATCH /:controller/:id update
DELETE /:controller/:id delete
GET /:entityType/:id/followers followers-read
POST /:entityType/:id/followers followers-write
DELETE /:entityType/:id/followers followers-write
GET /:controller/:id/stream stream-read
GET /:controller/:id/posts stream-read
GET /:controller/:id/updateStream stream-read
PUT /:controller/:id/subscription subscription
DELETE /:controller/:id/subscription subscription
GET /:entityType/:id/streamAttachments stream-read
POST /Note/:id/pin
DELETE /Note/:id/pin
PUT /:entityType/:id/starSubscription star
DELETE /:entityType/:id/starSubscription star
GET /:entityType/:id/usersAccess users-access
GET /:controller/:id/:link link-read
POST /:controller/:id/:link link-relate
DELETE /:controller/:id/:link link-unrelate
POST /Pipeline/:id/move/:type
POST /PipelineStage/:id/move/:type
"""

NON_ENTITY_CONTROLLERS = frozenset(
    {
        # Controllers and action routes that are not record types (no entityDefs scope).
        "Action", "Activities", "Admin", "ApiIndex", "App", "Calendar", "CurrencyRate", "Dashboard",
        "DataPrivacy", "EntityManager", "Export", "FieldManager", "Formula", "GlobalSearch",
        "GlobalStream", "I18n", "Kanban", "LabelManager", "LastViewed", "Layout", "Ldap", "MassAction",
        "Metadata", "OAuth", "Oidc", "OpenApi", "Pdf", "PopupNotification", "Settings", "Stream",
        "TemplateManager", "Timeline", "TwoFactorEmail", "TwoFactorSms", "UserSecurity",
        # A record type whose actions install code on the server: never a plain entity.
        "Extension",
    }
)  # fmt: skip
"""First path segments that never name an entity: every request to them is opaque."""

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def is_entity_name(name: str) -> bool:
    """True when ``name`` can be read as an entity type (a plain identifier, not a system controller)."""
    return _IDENTIFIER.fullmatch(name) is not None and name not in NON_ENTITY_CONTROLLERS


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


ROUTES: tuple[Route, ...] = _parse(_CRM_ROUTES) + _parse(_CORE_ROUTES)


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
