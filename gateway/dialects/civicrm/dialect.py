"""The CiviCRM dialect: where a request's route lives, what it touches, and refusals CiviCRM
clients can read. Registered as ``civicrm``.

Options (per upstream): ``cms`` (``auto`` accepts every route location; a named CMS accepts only
the locations it routes by), ``fk_map`` (``{Entity: {field: TargetEntity}}`` merged over the
built-in foreign keys; ``"*"`` applies to every entity), ``requested_with`` (inject
``X-Requested-With`` on ``civicrm/ajax/*`` routes; default true), ``allow_parameters`` (request
parameter names the gateway does not model but lets through to this upstream: an escape hatch that
weakens the positive model, reported by ``check``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from gateway.dialects.base import OPAQUE, AnswerFilter, ErrorRendering, Operation, RequestView, ScopeClauses
from gateway.dialects.civicrm import answers as civicrm_answers
from gateway.dialects.civicrm import v3 as civicrm_v3
from gateway.dialects.civicrm import v4 as civicrm_v4
from gateway.dialects.civicrm import vocab as civicrm_vocab
from gateway.dialects.civicrm.inputs import CREDENTIAL_PARAMS, check_inputs
from gateway.dialects.civicrm.render import Style, render
from gateway.dialects.civicrm.routes import CMS_CHOICES, V3_KINDS, V4_KINDS, Kind, Route, Sources, locate
from gateway.dialects.civicrm.schema import Schema
from gateway.dialects.civicrm.scope import scope_api4
from gateway.dialects.pathcanon import AMBIGUOUS, canonicalise, encode_path
from gateway.dialects.vocabulary import DialectRules
from gateway.errors import BadRequest, ConfigError, GatewayError
from gateway.wire.slots import TokenSlot

MAX_OPERATIONS = 500
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
_OPTIONS = ("cms", "fk_map", "requested_with", "allow_parameters")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SOURCES = "civicrm.sources"
_ROUTE = "civicrm.route"


def _media_type(view: RequestView) -> str:
    return view.content_type.split(";")[0].strip().lower()


def _merge(ops: list[Operation]) -> list[Operation]:
    merged: dict[tuple[str, str, str], Operation] = {}
    for op in ops:
        key = (op.entity, op.action, op.via)
        seen = merged.get(key)
        merged[key] = op if seen is None else Operation(op.entity, op.action, op.via, seen.fields | op.fields)
    return list(merged.values())


class CiviCrmDialect:
    name: ClassVar[str] = "civicrm"
    credential_params: ClassVar[frozenset[str]] = CREDENTIAL_PARAMS
    credential_headers: ClassVar[frozenset[str]] = frozenset({"x-civi-auth", "x-civi-key", "x-civi-site-key"})
    credential_prefixes: ClassVar[tuple[str, ...]] = ("x-civi-",)
    token_slots: ClassVar[tuple[TokenSlot, ...]] = (
        TokenSlot("x-civi-auth", "X-Civi-Auth", scheme="Bearer"),
        TokenSlot("_authx", "_authx", param=True, scheme="Bearer"),
        TokenSlot("api_key", "api_key", param=True, scheme="none"),
    )
    vocabulary: ClassVar[DialectRules] = civicrm_vocab.VOCABULARY
    answer_filter: ClassVar[AnswerFilter | None] = AnswerFilter(
        fields=frozenset({"api_key"}),
        entities=frozenset({"Contact", "Individual", "Household", "Organization"}),
    )

    def __init__(
        self,
        cms: str = "auto",
        fk_map: Mapping[str, Mapping[str, str]] | None = None,
        requested_with: bool = True,
        allow_parameters: frozenset[str] = frozenset(),
        token_params: frozenset[str] = frozenset(),
    ) -> None:
        if cms not in CMS_CHOICES:
            raise ValueError(f"unknown cms {cms!r}")
        self.cms = cms
        self.schema = Schema(fk_map)
        self.requested_with = requested_with
        self.allow_parameters = allow_parameters
        self._tolerated = allow_parameters | token_params
        self.weakenings = tuple(
            f"allow_parameters lets '{name}' through unmodelled (weakens the positive model)"
            for name in sorted(allow_parameters)
        )

    # -- request reading -------------------------------------------------------------------------

    def canonical_path(self, raw_path: str) -> str:
        path = canonicalise(raw_path)
        if "%" in path:
            raise BadRequest("Ambiguous request path: encoded percent sign", reason=AMBIGUOUS)
        return path

    def sources(self, view: RequestView) -> Sources:
        """The request's parameters, parsed once per state of the view (before/after the body)."""
        cached = view.extras.get(_SOURCES)
        if cached is not None and cached[0] is view.form:
            sources: Sources = cached[1]
            return sources
        sources = Sources.of(view)
        view.extras[_SOURCES] = (view.form, sources)
        return sources

    def route(self, view: RequestView) -> Route:
        """The request's route, located once per state of the view: recomputed when its parameters
        (``sources``, new when ``view.form`` changes) or its path differ from the cached one's."""
        sources = self.sources(view)
        cached = view.extras.get(_ROUTE)
        if cached is not None and cached[0] is sources and cached[1] == view.path and cached[2] == self.cms:
            found: Route = cached[3]
            return found
        found = locate(view, sources, self.cms)  # a refusal (GatewayError) is not cached
        view.extras[_ROUTE] = (sources, view.path, self.cms, found)
        return found

    def _route_or_none(self, view: RequestView) -> Route | None:
        try:
            return self.route(view)
        except GatewayError:
            return None

    def body_needed(self, view: RequestView) -> bool:
        if view.method.upper() == "GET":
            return False
        if _media_type(view) in FORM_TYPES:
            return True
        route = self._route_or_none(view)
        return route is not None and route.is_api

    def identify(self, view: RequestView) -> list[Operation]:
        route = self.route(view)
        sources = self.sources(view)
        check_inputs(view, route)
        if route.kind in V3_KINDS:
            ops = civicrm_v3.identify(view, sources, route, self.schema)
        elif route.kind in V4_KINDS:
            ops = civicrm_v4.identify(
                view, sources, route, self.schema, self.allow_parameters, self._tolerated
            )
        else:
            ops = [Operation(OPAQUE, f"{view.method.upper()} {route.name}")]
        if len(ops) > MAX_OPERATIONS:
            raise BadRequest("The request runs too many API calls", reason="too-many-operations")
        return _merge(ops)

    # -- forwarding ------------------------------------------------------------------------------

    def forward_path(self, view: RequestView) -> str:
        return encode_path(view.path)

    def needs_requested_with(self, view: RequestView) -> bool:
        if not self.requested_with:
            return False
        route = self._route_or_none(view)
        return route is not None and route.is_ajax

    # -- refusals --------------------------------------------------------------------------------

    def error_style(self, view: RequestView | None) -> Style:
        route = self._route_or_none(view) if view is not None else None
        if view is None or route is None or route.kind not in V3_KINDS:
            return Style.V4
        if route.kind in (Kind.WP_REST, Kind.API_JSON) or self.sources(view).present("json"):
            return Style.V3_JSON
        return Style.V3_XML

    def answer_fields(self, key: str) -> tuple[str, ...]:
        return civicrm_answers.answer_fields(key)

    def render_error(self, error: GatewayError, view: RequestView | None) -> ErrorRendering:
        return render(error, self.error_style(view))

    @property
    def signer_settings(self) -> Mapping[str, Any]:
        return {}

    def scope_records(self, view: RequestView, touched: list[Operation], clauses: ScopeClauses) -> None:
        scope_api4(self.route(view), view, touched, clauses)


def _fk_map(value: Any, where: str) -> dict[str, dict[str, str]]:
    key = f"{where}.fk_map"
    if not isinstance(value, Mapping):
        raise ConfigError("expected a mapping of Entity: {field: TargetEntity}", key=key)
    result: dict[str, dict[str, str]] = {}
    for entity, fields in value.items():
        if not isinstance(entity, str) or not (entity == "*" or _NAME.fullmatch(entity)):
            raise ConfigError(f"not an entity name: {entity!r}", key=key)
        if not isinstance(fields, Mapping):
            raise ConfigError("expected a mapping of field: TargetEntity", key=f"{key}.{entity}")
        for field, target in fields.items():
            ok = isinstance(field, str) and isinstance(target, str) and _NAME.fullmatch(field)
            if not ok or not _NAME.fullmatch(str(target)):
                raise ConfigError("expected field: TargetEntity (names)", key=f"{key}.{entity}.{field}")
        result[entity] = dict(fields)
    return result


def factory(
    options: Mapping[str, Any], where: str, *, token_params: frozenset[str] = frozenset()
) -> CiviCrmDialect:
    """Build the dialect from validated upstream options; ConfigError names the bad key."""
    for name in options:
        if name not in _OPTIONS:
            raise ConfigError(f"unknown option (known: {', '.join(_OPTIONS)})", key=f"{where}.{name}")
    cms = options.get("cms", "auto")
    if cms not in CMS_CHOICES:
        raise ConfigError(f"must be one of {', '.join(CMS_CHOICES)}", key=f"{where}.cms")
    requested_with = options.get("requested_with", True)
    if not isinstance(requested_with, bool):
        raise ConfigError("expected true or false", key=f"{where}.requested_with")
    fk_map = _fk_map(options["fk_map"], where) if options.get("fk_map") is not None else None
    allow = options.get("allow_parameters", [])
    if not isinstance(allow, list) or not all(isinstance(n, str) and _NAME.fullmatch(n) for n in allow):
        raise ConfigError("expected a list of parameter names", key=f"{where}.allow_parameters")
    return CiviCrmDialect(
        cms=cms,
        fk_map=fk_map,
        requested_with=requested_with,
        allow_parameters=frozenset(allow),
        token_params=token_params,
    )
