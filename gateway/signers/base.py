"""What a signer is: a pure rewrite of an outbound request that adds the upstream credential."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from multidict import CIMultiDict

from gateway.secrets import Secret

Identity = Mapping[str, Secret]
"""Who the principal is on one CRM: ``api_key``, ``contact_id``, ``secret_key``, ``username``..."""


@dataclass(slots=True)
class OutboundRequest:
    """The request about to be sent upstream. ``path`` is the encoded path exactly as it will be
    sent (upstream base path included), ``query`` the encoded-on-send query pairs, ``form`` the
    urlencoded body fields when the body is a form the gateway re-encodes (``None`` otherwise).
    ``base_path`` is the upstream URL's own path (``""`` for a root install). ``secrets`` lists every
    credential value a signer put into the request (and its parts, such as the key inside a Basic token):
    the answer guard removes them from whatever the CRM sends back."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: CIMultiDict[str]
    base_path: str = ""
    form: list[tuple[str, str]] | None = None
    body: bytes | None = None
    secrets: list[str] = field(default_factory=list)


class Signer(Protocol):
    scheme: ClassVar[str]
    identity_fields: ClassVar[frozenset[str]]
    """Identity keys this scheme requires; checked at config load."""

    @property
    def front_proxy_refusal(self) -> str | None:
        """Why a front proxy cannot apply this signer's credential from the decision's response headers
        (it travels in the query or the body), or None when it can."""
        ...

    @property
    def credential_lifetime(self) -> int | None:
        """The least number of seconds a credential signed now stays valid; None when it never expires."""
        ...

    def sign(self, request: OutboundRequest, identity: Identity, now: float) -> None:
        """Add the credential to ``request`` in place, listing each value it injects in
        ``request.secrets``. Pure apart from an optional token cache."""
        ...


SignerFactory = Callable[[Mapping[str, Any], str], Signer]
"""Builds a signer from the upstream ``auth`` options (secrets already resolved to Secret);
the string names the config location for ConfigError."""


PersonCheck = Callable[[Any], str]
"""Checks and normalises a person-field value from a token claim or a CRM look-up; raises ValueError
with a reason that never repeats the value."""


@dataclass(frozen=True, slots=True)
class SignerSpec:
    """What a scheme declares about itself; the loader reads only this."""

    scheme: str
    factory: SignerFactory
    identity_fields: frozenset[str]
    """Identity keys this scheme requires; checked at config load."""
    dialects: frozenset[str]
    """The dialects whose upstreams it can sign for."""
    options: frozenset[str] = frozenset()
    """The ``auth`` options it accepts (besides ``scheme``)."""
    secret_options: frozenset[str] = frozenset()
    """Options resolved as secrets: kept out of logs, errors and reprs."""
    person_fields: Mapping[str, PersonCheck] = field(default_factory=dict)
    """Identity fields that name the person (and may come from a claim or a look-up), with their check.
    A person field that is not in ``identity_fields`` is optional."""
    headers: tuple[str, ...] = ()
    """Headers it sets upstream, spelled as sent: a front proxy sets them from the decision (the
    ``X-Crm-Set-*`` names of ``decision/contract.py``), a client's are stripped, logs hide their values."""
    proxy_only_headers: tuple[str, ...] = ()
    """Headers it sets only for an identity field in ``front_proxy_refused_fields`` (EspoCRM's
    ``X-Another-User``): stripped and hidden like ``headers``, never part of the decision contract."""
    params: frozenset[str] = frozenset()
    """Query or form parameters it puts its credential in: logs hide their values (the dialects it serves
    strip a client's, as ``credential_params``)."""
    plain_fields: tuple[str, ...] = ()
    """Identity fields that name someone rather than hold a secret (every person field among them):
    written as plain values, shown in the access log and by explain, in this order."""
    field_refusals: Mapping[str, str] = field(default_factory=dict)
    """Identity fields an operator may expect but this scheme cannot take, with the reason given at load
    (``cannot act as another user: ...``)."""
    front_proxy_refused_fields: Mapping[str, str] = field(default_factory=dict)
    """Identity fields a front proxy cannot apply from the decision's answer, with the reason: an upstream
    whose identities use one is refused in ``decision.upstreams`` at load."""
