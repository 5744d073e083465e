"""IdentityMap.select: a rule whose identity is all fixed fields is built once per upstream (the acting
identity included), yet every request is still matched against the rules with its own claims."""

from __future__ import annotations

import pytest

from gateway.errors import Forbidden
from gateway.identities import IdentityMap, acting_as
from gateway.identity.spec import FromClaim, IdentityRule, IdentitySpec
from gateway.principal import Principal
from gateway.secrets import Secret

SHARED = IdentitySpec(fixed={"api_key": Secret("k-shared"), "secret_key": Secret("s-shared")})
OTHER = IdentitySpec(fixed={"contact_id": Secret("2")})
PERSON = IdentitySpec(
    fixed={"api_key": Secret("k-person")},
    derived={"contact_id": FromClaim("cid")},
    checks={"contact_id": lambda value: str(int(value))},
)
RULES = [
    IdentityRule(match={"sub": ("alice",)}, crm={"espo": SHARED, "civi": OTHER}, line="a.yaml:1"),
    IdentityRule(match={"sub": ("bob",)}, crm={"espo": PERSON}, line="a.yaml:5"),
]


def who(sub: str, **claims: object) -> Principal:
    return Principal(subject=sub, issuer="https://idp.test", claims={"sub": sub, **claims})


def test_a_fixed_identity_is_built_once_and_acts_as_a_fresh_one_would() -> None:
    identities = IdentityMap(RULES)
    first = identities.select(who("alice"), "espo")
    again = identities.select(who("alice", cid=7), "espo")
    assert again is first and first.acting is not None
    fresh = acting_as(first, dict(first.fields))
    assert first.acting == fresh
    assert first.acting.label == "identities[0]" and first.acting.person is None
    civi = identities.select(who("alice"), "civi")
    assert civi is not first and civi.acting is not None and civi.acting.label == "contact_id=2"


def test_each_request_is_still_matched_with_its_own_claims() -> None:
    identities = IdentityMap(RULES)
    identities.select(who("alice"), "espo")
    bob = identities.select(who("bob", cid=42), "espo")
    assert bob.index == 1 and bob.acting is None and bob.fields["contact_id"].reveal() == "42"
    assert identities.select(who("bob", cid=43), "espo").fields["contact_id"].reveal() == "43"
    with pytest.raises(Forbidden):
        identities.select(who("mallory"), "espo")
    with pytest.raises(Forbidden):
        identities.select(who("bob", cid=42), "civi")
