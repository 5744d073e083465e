"""Principal -> who it is on each CRM, from the config's identity rules (first match wins).

:meth:`IdentityMap.select` runs before policy and needs no I/O: the rule, its fixed fields and the
fields taken from token claims. Fields resolved through the CRM are left pending for
:mod:`gateway.acting`, which runs only after the request was authenticated and authorized.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gateway.errors import Forbidden
from gateway.identity.spec import ActingAs, FromClaim, FromLookup, IdentityRule, IdentitySpec
from gateway.principal import Principal
from gateway.secrets import Secret
from gateway.signers.registry import SIGNERS

NO_IDENTITY = "no-identity"


@dataclass(frozen=True, slots=True)
class Selection:
    index: int
    rule: IdentityRule
    spec: IdentitySpec
    fields: dict[str, Secret]
    """Fixed fields and those taken from claims, checked."""
    pending: Mapping[str, FromLookup] = field(default_factory=dict)
    why: tuple[str, ...] = ()
    acting: ActingAs | None = None
    """What the request acts as, when the rule's fields are all fixed (nothing from claims or look-ups):
    the same for every request the rule matches, built once."""


PLAIN_FIELDS = tuple(dict.fromkeys(name for spec in SIGNERS.values() for name in spec.plain_fields))
"""Identity fields that name someone (never a secret), as the signers declare them: shown in the access
log and by explain."""


def label_of(index: int, fields: Mapping[str, Secret]) -> str:
    shown = [f"{name}={fields[name].reveal()}" for name in PLAIN_FIELDS if name in fields]
    return ",".join(shown) or f"identities[{index}]"


def person_of(spec: IdentitySpec, fields: Mapping[str, Secret]) -> str | None:
    """``contact_id=42`` (the derived fields, which name a person and are never secrets); None if shared."""
    names = [name for name in spec.derived if name in fields]
    return ",".join(f"{name}={fields[name].reveal()}" for name in names) or None


class Unresolved(Forbidden):
    """A person field could not be resolved: 403 ``no-identity`` (or the next rule, where allowed)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason=NO_IDENTITY)


def acting_as(selection: Selection, fields: Mapping[str, Secret]) -> ActingAs:
    """The identity a finished selection acts as (``fields``: its own and those the CRM resolved)."""
    index = selection.index
    person = person_of(selection.spec, fields)
    return ActingAs(index, fields, person, "; ".join(selection.why), label_of(index, fields))


class IdentityMap:
    def __init__(self, rules: Sequence[IdentityRule]) -> None:
        self.rules = tuple(rules)
        self._fixed: dict[tuple[int, str], Selection] = {}
        """The selections of rules whose identity on an upstream is all fixed fields, built on first use."""

    def select(self, principal: Principal, upstream: str, start: int = 0) -> Selection:
        """The first matching rule from ``start`` whose claim fields resolve; raises Forbidden."""
        refusal: Unresolved | None = None
        for index in range(start, len(self.rules)):
            rule = self.rules[index]
            if upstream not in rule.crm or not rule.matches(principal.claims):
                continue
            spec = rule.crm[upstream]
            if not spec.derived:
                return self._fixed_selection(index, rule, spec, upstream)
            try:
                return _selection(index, rule, spec, principal.claims)
            except Unresolved as exc:
                if rule.unresolved != "next":
                    raise
                refusal = refusal or exc
        if refusal is not None:
            raise refusal
        raise Forbidden("this integration has no identity on this CRM", reason=NO_IDENTITY)

    def _fixed_selection(
        self, index: int, rule: IdentityRule, spec: IdentitySpec, upstream: str
    ) -> Selection:
        found = self._fixed.get((index, upstream))
        if found is None:
            plain = _selection(index, rule, spec, {})
            found = replace(plain, acting=acting_as(plain, dict(plain.fields)))
            self._fixed[(index, upstream)] = found
        return found

    def lookup(self, principal: Principal, upstream: str) -> tuple[int, Mapping[str, Secret]]:
        """The rule index and the identity, for callers that need no look-up (refused if one is pending)."""
        selection = self.select(principal, upstream)
        if selection.pending:
            raise Unresolved("this identity needs a look-up in the CRM; it is resolved after policy")
        return selection.index, selection.fields


def _selection(index: int, rule: IdentityRule, spec: IdentitySpec, claims: Mapping[str, Any]) -> Selection:
    fields = dict(spec.fixed)
    pending: dict[str, FromLookup] = {}
    why = [f"rule identities[{index}] ({rule.line})"]
    for name, source in spec.derived.items():
        if isinstance(source, FromLookup):
            lookup_value(name, source, claims)  # a missing claim is refused before policy, like a claim field
            pending[name] = source
            why.append(f"{name} looked up by {source.by} from claim {source.claim}")
            continue
        fields[name] = Secret(claim_value(spec, name, source, claims), "claim")
        why.append(f"{name} from claim {source.claim}")
    return Selection(index, rule, spec, fields, pending, tuple(why))


def _missing(claim: str, name: str) -> Unresolved:
    return Unresolved(f"the token has no {claim} claim, which gives this principal's {name} on the CRM")


def claim_value(spec: IdentitySpec, name: str, source: FromClaim, claims: Mapping[str, Any]) -> str:
    """The checked value of ``source.claim`` for field ``name``; raises Unresolved (never shows the value)."""
    value = claims.get(source.claim)
    if value is None:
        raise _missing(source.claim, name)
    try:
        return spec.checks[name](value)
    except ValueError as exc:
        raise Unresolved(f"the token's {source.claim} claim {exc}") from None


def lookup_value(name: str, source: FromLookup, claims: Mapping[str, Any]) -> str:
    """The claim a look-up searches by: a non-empty string or number."""
    value = claims.get(source.claim)
    if value is None:
        raise _missing(source.claim, name)
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not text or len(text) > 254:
        raise Unresolved(f"the token's {source.claim} claim is not a usable {source.by}")
    return text
