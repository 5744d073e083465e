"""What an ``identities`` entry says about one CRM: fixed fields, and fields that name the person.

A *person field* (``contact_id`` for ``authx-jwt``, ``act_as`` for ``espo-basic``/``espo-token``) may take
its value from a token claim (:class:`FromClaim`) or from a look-up in the CRM (:class:`FromLookup`);
the signer declares which fields these are and how a value is checked (``SignerSpec.person_fields``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.secrets import Secret
from gateway.signers.base import PersonCheck


@dataclass(frozen=True, slots=True)
class FromClaim:
    claim: str


@dataclass(frozen=True, slots=True)
class FromLookup:
    by: str
    claim: str


FieldSource = FromClaim | FromLookup


@dataclass(frozen=True, slots=True)
class IdentitySpec:
    fixed: Mapping[str, Secret]
    derived: Mapping[str, FieldSource] = field(default_factory=dict)
    checks: Mapping[str, PersonCheck] = field(default_factory=dict)

    @property
    def per_person(self) -> bool:
        return bool(self.derived)

    def lookups(self) -> dict[str, FromLookup]:
        return {name: source for name, source in self.derived.items() if isinstance(source, FromLookup)}


@dataclass(frozen=True, slots=True)
class ActingAs:
    """The identity a request acts as on one CRM, and why (for the access log and ``explain``)."""

    index: int
    identity: Mapping[str, Secret]
    person: str | None
    """``contact_id=42`` or ``act_as=jdoe`` for a per-person identity; None for a shared one. Never secret."""
    why: str
    label: str
    """What the access log shows: the person, else the identity's plain fields, else ``identities[N]``."""


@dataclass(frozen=True, slots=True)
class IdentityRule:
    match: Mapping[str, tuple[str, ...]]
    crm: Mapping[str, IdentitySpec]
    line: str
    unresolved: str = "refuse"
    """``refuse`` (default): a person field that cannot be resolved is a 403 ``no-identity``; ``next``:
    the next matching rule is tried instead (only where the config says so)."""

    def matches(self, claims: Mapping[str, Any]) -> bool:
        for claim, wanted in self.match.items():
            value = claims.get(claim)
            values = value if isinstance(value, list | tuple) else [value]
            if not any(isinstance(v, str | int) and str(v) in wanted for v in values):
                return False
        return True


@dataclass(frozen=True, slots=True)
class LookupConfig:
    """The service identity one upstream uses for identity look-ups, and how answers are cached."""

    upstream: str
    identity: Mapping[str, Secret]
    ttl_seconds: float = 300.0
    negative_ttl_seconds: float = 30.0
    max_entries: int = 10_000
    timeout_seconds: float = 5.0
