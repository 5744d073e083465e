"""What a CRM dialect is: it reads a request in that CRM's terms and speaks its errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from multidict import CIMultiDictProxy, MultiDictProxy

from gateway.dialects.vocabulary import DialectRules
from gateway.errors import Forbidden, GatewayError
from gateway.wire.slots import TokenSlot

OPAQUE = "<opaque>"


@dataclass(frozen=True, slots=True)
class Operation:
    """One (entity, action) a request touches. ``via`` says how it was found (``route``,
    ``chain:api.Email.get``, ``join:Email``, ``batch:3``...). ``fields`` lists the field names
    the operation reads or writes, for field rules. An opaque operation has entity ``<opaque>``
    and the canonical route in ``action``."""

    entity: str
    action: str
    via: str = "route"
    fields: frozenset[str] = frozenset()
    record_ids: tuple[str, ...] = ()

    @property
    def opaque(self) -> bool:
        return self.entity == OPAQUE


@dataclass(slots=True)
class RequestView:
    """The client request as a dialect sees it, relative to the upstream (prefix stripped).

    ``path`` is the canonical decoded path; ``raw_path`` the encoded one as received.
    ``form`` holds urlencoded/multipart body fields when the body was read and is a form;
    ``body`` the raw bytes when read. Both are ``None`` when the body was not read.
    ``body_memoisable``: the body reader found ``body`` small and free of credentials, so it may key the
    admission memo (gateway/admission_memo.py); a view built any other way leaves it False.
    """

    method: str
    path: str
    raw_path: str
    query: MultiDictProxy[str]
    headers: CIMultiDictProxy[str]
    content_type: str = ""
    body: bytes | None = None
    form: MultiDictProxy[str] | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    body_memoisable: bool = False


@dataclass(frozen=True, slots=True)
class ErrorRendering:
    status: int
    headers: Mapping[str, str]
    body: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class AnswerFilter:
    """Fields a dialect removes from the CRM's answers unless a policy allows reading them (its
    vocabulary's sensitive fields), and the entities whose answers may carry them. Only proxy mode sees
    answers (gateway/answers/): an upstream whose policies rely on the filter is refused in decision mode
    at config load."""

    fields: frozenset[str]
    entities: frozenset[str]


ScopeClauses = Callable[[str], list[tuple[str, tuple[str | int, ...]]]]
"""An entity's record-scope clauses: (field, allowed values) per scope; raises Forbidden
(scope-claim-missing) when the token lacks a scope's claim."""


def scope_refusal(entity: str, why: str) -> Forbidden:
    return Forbidden(f"{entity} records are scoped for this integration: {why}", reason="scope-unsupported")


class Dialect(Protocol):
    """A CRM dialect, built once per upstream from its validated options."""

    name: ClassVar[str]
    vocabulary: ClassVar[DialectRules]
    """Entity and action names, groups, sensitive fields: what policies, lint and metric labels know."""
    answer_filter: ClassVar[AnswerFilter | None]

    @property
    def signer_settings(self) -> Mapping[str, Any]:
        """Settings the upstream's signer takes from the dialect, by ``auth`` option name (EspoCRM's
        ``api_path``): configured once, in the dialect's options."""
        ...

    credential_params: ClassVar[frozenset[str]]
    """Query/form parameter names that carry a client credential; stripped before forwarding."""
    credential_headers: ClassVar[frozenset[str]]
    """Header names (lower-case) this CRM reads a credential from. A client's are stripped before any
    upstream (whichever its dialect), a front proxy removes them, and logs hide their values
    (gathered in ``dialects/credentials.py``)."""
    credential_prefixes: ClassVar[tuple[str, ...]]
    """Lower-case prefixes of this CRM's credential headers: a client header starting with one is
    stripped too (and logs hide it), so a variant the list misses never reaches the CRM."""
    token_slots: ClassVar[tuple[TokenSlot, ...]]
    """Where this CRM's clients put their key, so they may put the gateway token there instead
    (``identity.token_slots`` names them). A header slot must be among ``credential_headers``; every
    dialect is told every parameter slot (``token_params`` of its factory): it reads them as the
    gateway's, never as its own parameters, and they are stripped before any upstream."""

    def canonical_path(self, raw_path: str) -> str:
        """Decode and canonicalise a path relative to the upstream; raise BadRequest when ambiguous."""
        ...

    def body_needed(self, view: RequestView) -> bool:
        """True when identify() or token extraction needs the request body."""
        ...

    def identify(self, view: RequestView) -> list[Operation]:
        """Every (entity, action) the request touches. Pure: no I/O."""
        ...

    def forward_path(self, view: RequestView) -> str:
        """The encoded path (relative to the upstream) to send: the canonical path re-encoded,
        so the upstream routes exactly what the policy saw."""
        ...

    def needs_requested_with(self, view: RequestView) -> bool:
        """True when the upstream route needs ``X-Requested-With: XMLHttpRequest``."""
        ...

    def render_error(self, error: GatewayError, view: RequestView | None) -> ErrorRendering:
        """The refusal as a client of this CRM expects to read it."""
        ...

    def scope_records(self, view: RequestView, touched: list[Operation], clauses: ScopeClauses) -> None:
        """Narrow the request to the records its scopes allow (``touched``: its operations on scoped
        entities, never empty), or raise Forbidden(scope-unsupported) when it cannot be narrowed."""
        ...

    def answer_fields(self, key: str) -> tuple[str, ...]:
        """The field names (lower-case, as policies fold them) a key of this CRM's answer can carry,
        for the answer filter; each is a substring of ``key.lower()``."""
        ...


DialectFactory = Callable[[Mapping[str, Any], str], Dialect]
"""Builds a dialect from upstream options; the string names the config location for errors."""


class DialectBuilder(Protocol):
    """A dialect's registered factory: ``token_params`` are the parameter names any token slot reads
    (``dialects/registry.py`` passes them)."""

    def __call__(
        self, options: Mapping[str, Any], where: str, *, token_params: frozenset[str]
    ) -> Dialect: ...
