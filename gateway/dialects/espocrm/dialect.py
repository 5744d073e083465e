"""The EspoCRM dialect: canonical API paths, what a request touches, and refusals as Espo clients read them.

Paths are relative to the upstream (``/api/v1/Lead/123``). ``canonical_path`` decodes once, refuses
ambiguous forms, and ``ucfirst``s the controller segment as the server does, so the policy, the
signer and the server all see one path; ``forward_path`` re-encodes it so that slim/psr7 leaves it
untouched and the router decodes it back to exactly that path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from gateway.dialects.base import (
    AnswerFilter,
    ErrorRendering,
    Operation,
    RequestView,
    ScopeClauses,
    scope_refusal,
)
from gateway.dialects.espocrm import answers as espocrm_answers
from gateway.dialects.espocrm import vocab as espocrm_vocab
from gateway.dialects.espocrm.identify import Classifier, needs_body, opaque
from gateway.dialects.espocrm.links import BUILTIN_LINKS, merge_links
from gateway.dialects.espocrm.params import php_key
from gateway.dialects.espocrm.routes import RouteMatch, match_route
from gateway.dialects.pathcanon import AMBIGUOUS, MEMO_PATH_LIMIT, canonicalise
from gateway.dialects.vocabulary import DialectRules
from gateway.errors import BadRequest, ConfigError, GatewayError
from gateway.signers.espo_path import encode_decoded_path
from gateway.wire.slots import TokenSlot

DEFAULT_API_PATH = "/api/v1"
PORTAL_API = "portal-access"
"""``<api>/portal-access/<portalId>/...`` is the separate portal API: opaque, and left as sent."""
METHOD_OVERRIDE_HEADERS = ("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override")
METHOD_OVERRIDE_PARAM = "_method"
STATUS_REASON = "X-Status-Reason"
_MAX_REASON_LENGTH = 200
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_KNOWN_OPTIONS = ("api_path", "link_map", "allow_unknown_links", "allow_parameters")
_ROUTE_MEMO_SIZE = 4096


@dataclass(frozen=True, slots=True)
class EspoOptions:
    api_path: str = DEFAULT_API_PATH
    """Where the REST API lives below the upstream URL; ``""`` when the upstream URL is the API base."""
    links: Mapping[str, Mapping[str, str]] | None = None
    allow_unknown_links: bool = False
    allow_parameters: frozenset[str] = frozenset()
    """List parameters let through unmodelled (an escape hatch; ``check`` warns)."""


def ucfirst(name: str) -> str:
    """PHP ``ucfirst``: only an ASCII ``a``-``z`` first character changes."""
    return name[0].upper() + name[1:] if name and "a" <= name[0] <= "z" else name


def header_safe(text: str) -> str:
    """``text`` as one line of printable ASCII, fit for a response header."""
    cleaned = "".join(ch if " " <= ch <= "~" else "?" for ch in " ".join(text.split()))
    return cleaned[:_MAX_REASON_LENGTH]


CREDENTIAL_HEADERS = frozenset(
    {
        "espo-authorization",
        "espo-authorization-by-token",
        "espo-authorization-code",
        "espo-authorization-create-token-secret",
        "x-api-key",
        "x-hmac-authorization",
        "x-another-user",
        # what some server set-ups hand PHP as the same variables (fastcgi and rewrite-rule copies)
        "http-espo-cgi-auth",
        "redirect-http-espo-cgi-auth",
        "http-espo-authorization",
        "redirect-http-espo-authorization",
    }
)
"""Every header EspoCRM reads a credential or an identity from (``Espo-Authorization*``, API key, HMAC,
``X-Another-User``)."""


class EspoDialect:
    name: ClassVar[str] = "espocrm"
    credential_params: ClassVar[frozenset[str]] = frozenset()
    credential_headers: ClassVar[frozenset[str]] = CREDENTIAL_HEADERS
    credential_prefixes: ClassVar[tuple[str, ...]] = ("espo-authorization", "x-hmac-", "x-api-key")
    token_slots: ClassVar[tuple[TokenSlot, ...]] = (TokenSlot("x-api-key", "X-Api-Key", scheme="none"),)
    vocabulary: ClassVar[DialectRules] = espocrm_vocab.VOCABULARY
    answer_filter: ClassVar[AnswerFilter | None] = None
    """Espo credentials travel in headers only; the proxy strips those."""

    def __init__(
        self, options: EspoOptions | None = None, token_params: frozenset[str] = frozenset()
    ) -> None:
        opts = options or EspoOptions()
        self.api_path = opts.api_path
        self.links = merge_links(BUILTIN_LINKS, opts.links or {})
        tolerated = opts.allow_parameters | token_params
        self._classifier = Classifier(self.links, opts.allow_unknown_links, tolerated)
        self._routes: dict[tuple[str, str], RouteMatch | None] = {}
        """``match_route`` answers by (method, relative path): the route table is fixed, so the answer is
        too (a RouteMatch is only read). Bounded: emptied when full."""
        self.weakenings = tuple(
            f"allow_parameters lets '{name}' through unmodelled (weakens the positive model)"
            for name in sorted(opts.allow_parameters)
        )

    # -- paths -----------------------------------------------------------------------------------

    def relative(self, path: str) -> str | None:
        """``path`` below the API base (``/Lead/1``), or ``None`` when it is not an API path."""
        if not self.api_path:
            return path
        if path.startswith(self.api_path + "/"):
            return path[len(self.api_path) :]
        return None

    def canonical_path(self, raw_path: str) -> str:
        path = canonicalise(raw_path)
        if "%" in path:
            # The router decodes route arguments a second time: a literal "%41" would become "A".
            raise BadRequest("Ambiguous request path: encoded percent sign", reason=AMBIGUOUS)
        rel = self.relative(path)
        if rel is None or rel == "/":
            return path
        controller, sep, rest = rel[1:].partition("/")
        if controller.lower() == "index.php":
            # The server would take ".../index.php" as its base path and route what follows.
            raise BadRequest("Ambiguous request path: explicit index.php", reason=AMBIGUOUS)
        if controller == PORTAL_API:
            return path
        return f"{self.api_path}/{ucfirst(controller)}{sep}{rest}"

    def forward_path(self, view: RequestView) -> str:
        return encode_decoded_path(view.path)

    def needs_requested_with(self, view: RequestView) -> bool:
        return False

    # -- operations ------------------------------------------------------------------------------

    def _match(self, view: RequestView) -> RouteMatch | None:
        rel = self.relative(view.path)
        if rel is None or rel.startswith(f"/{PORTAL_API}/"):
            return None
        if len(rel) > MEMO_PATH_LIMIT:
            return match_route(view.method, rel)
        key = (view.method, rel)
        routes = self._routes
        try:
            return routes[key]
        except KeyError:
            pass
        if len(routes) >= _ROUTE_MEMO_SIZE:
            routes.clear()
        found = routes[key] = match_route(view.method, rel)
        return found

    def body_needed(self, view: RequestView) -> bool:
        match = self._match(view)
        return match is not None and needs_body(match)

    def identify(self, view: RequestView) -> list[Operation]:
        refuse_method_override(view)
        match = self._match(view)
        if match is None:
            # Not the API, the portal API, or nothing the server routes (its 404/405).
            rel = self.relative(view.path)
            return [opaque(f"{view.method} {view.path if rel is None else rel}")]
        return self._classifier.classify(match, view)

    # -- errors ----------------------------------------------------------------------------------

    def answer_fields(self, key: str) -> tuple[str, ...]:
        return espocrm_answers.answer_fields(key)

    def render_error(self, error: GatewayError, view: RequestView | None) -> ErrorRendering:
        headers = {k: v for k, v in error.headers.items() if k.lower() != STATUS_REASON.lower()}
        headers[STATUS_REASON] = header_safe(error.message)
        body = json.dumps({"message": error.message, "reason": error.reason}).encode()
        return ErrorRendering(error.status, headers, body, "application/json")

    @property
    def signer_settings(self) -> Mapping[str, Any]:
        return {"api_path": self.api_path}

    def scope_records(self, view: RequestView, touched: list[Operation], clauses: ScopeClauses) -> None:
        raise scope_refusal(touched[0].entity, "only CiviCRM APIv4 calls can be scoped")


def refuse_method_override(view: RequestView) -> None:
    """The gateway authorizes the method it sees, so a request may not ask for another one."""
    param_names = [*view.query.keys(), *(view.form.keys() if view.form is not None else ())]
    if any(name in view.headers for name in METHOD_OVERRIDE_HEADERS) or any(
        php_key(name).lower() == METHOD_OVERRIDE_PARAM for name in param_names
    ):
        raise BadRequest("HTTP method overrides are not accepted.", reason="method-override")


# -- configuration -------------------------------------------------------------------------------


def _config_error(options: Mapping[str, Any], where: str, key: str, reason: str) -> ConfigError:
    line = getattr(options, "key_lines", {}).get(key.split(".", 1)[0])
    return ConfigError(reason, line=line, key=f"{where}.{key}")


def _api_path(options: Mapping[str, Any], where: str) -> str:
    value = options.get("api_path", DEFAULT_API_PATH)
    if not isinstance(value, str):
        raise _config_error(options, where, "api_path", "expected a string")
    path = value.rstrip("/") if value not in ("", "/") else ""
    if path and (not path.startswith("/") or "%" in path or _canonical_or_none(path) != path):
        raise _config_error(options, where, "api_path", "must be a plain absolute path such as /api/v1")
    return path


def _canonical_or_none(path: str) -> str | None:
    try:
        return canonicalise(path)
    except BadRequest:
        return None


def _link_map(options: Mapping[str, Any], where: str) -> dict[str, dict[str, str]]:
    raw = options.get("link_map", {}) or {}
    if not isinstance(raw, Mapping):
        raise _config_error(options, where, "link_map", "expected a mapping {Entity: {link: Entity}}")
    out: dict[str, dict[str, str]] = {}
    for entity, links in raw.items():
        if not isinstance(entity, str) or not _NAME.fullmatch(entity):
            raise _config_error(options, where, f"link_map.{entity}", "entity names are identifiers")
        if not isinstance(links, Mapping):
            raise _config_error(options, where, f"link_map.{entity}", "expected a mapping {link: Entity}")
        for link, target in links.items():
            valid = isinstance(link, str) and _NAME.fullmatch(link) and isinstance(target, str)
            if not valid or not _NAME.fullmatch(target):
                key = f"link_map.{entity}.{link}"
                raise _config_error(options, where, key, "expected link: Entity, both identifiers")
            out.setdefault(entity, {})[link] = target
    return out


def parse_options(options: Mapping[str, Any], where: str) -> EspoOptions:
    for key in options:
        if key not in _KNOWN_OPTIONS:
            raise _config_error(options, where, str(key), "unknown option")
    allow = options.get("allow_unknown_links", False)
    if not isinstance(allow, bool):
        raise _config_error(options, where, "allow_unknown_links", "expected true or false")
    params = options.get("allow_parameters", [])
    if not isinstance(params, list) or not all(isinstance(n, str) and _NAME.fullmatch(n) for n in params):
        raise _config_error(options, where, "allow_parameters", "expected a list of parameter names")
    return EspoOptions(_api_path(options, where), _link_map(options, where), allow, frozenset(params))


def create(
    options: Mapping[str, Any], where: str, *, token_params: frozenset[str] = frozenset()
) -> EspoDialect:
    """The registered factory: validates ``options`` (``where`` names them in errors)."""
    return EspoDialect(parse_options(options, where), token_params)
