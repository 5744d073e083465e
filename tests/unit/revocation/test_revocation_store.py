"""Which tokens an entry revokes, and the in-memory store's expiry."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import AuthenticationError
from gateway.principal import Principal
from gateway.revocation.checker import RevocationChecker
from gateway.revocation.store import Entry, MemoryStore, matching, targets
from tests.support.jwt_factory import FakeClock

NOW = 1_700_000_000.0


def principal(**claims: Any) -> Principal:
    return Principal(subject=claims.get("sub", "svc"), issuer="https://idp.test", claims=claims)


def test_targets_name_the_subject_jti_and_client() -> None:
    assert targets(principal(sub="svc", jti="j1", client_id="app", azp="other")) == [
        ("sub", "svc"),
        ("jti", "j1"),
        ("client", "app"),
    ]
    assert targets(principal(sub="svc", azp="web")) == [("sub", "svc"), ("client", "web")]
    assert targets(principal(sub="svc", jti="", client_id=7)) == [("sub", "svc")]


@pytest.mark.parametrize(
    ("entry_kind", "iat", "revoked"),
    [
        ("jti", NOW + 3600, True),  # one token: whenever it was issued
        ("sub", NOW - 10, True),  # issued before the revocation
        ("sub", NOW + 29, True),  # within the leeway: a skewed IdP clock cannot slip one through
        ("sub", NOW + 31, False),  # issued after: a new credential works
        ("sub", None, True),  # no iat: cannot tell, so revoked
        ("client", True, True),  # iat that is not a number counts as none
    ],
)
def test_matching(entry_kind: str, iat: Any, revoked: bool) -> None:
    entry = Entry(entry_kind, "x", NOW, NOW + 86400)
    claims = {} if iat is None else {"iat": iat}
    assert (matching([entry], principal(**claims), 30.0) is entry) is revoked


async def test_memory_entries_expire_with_the_longest_token_lifetime() -> None:
    clock = FakeClock(NOW)
    store = MemoryStore(clock)
    await store.add("sub", "svc", NOW, 100)
    assert [e.value for e in await store.lookup([("sub", "svc"), ("jti", "j")])] == ["svc"]
    clock.advance(100)
    assert await store.lookup([("sub", "svc")]) == []
    assert await store.entries() == []


async def test_the_checker_refuses_and_reports_what_matched() -> None:
    clock = FakeClock(NOW)
    store = MemoryStore(clock)
    seen: list[str] = []
    checker = RevocationChecker(store, on_refusal=seen.append)
    await checker.check(principal(sub="svc", iat=NOW - 5, jti="j"))
    await store.add("jti", "j", NOW, 3600)
    with pytest.raises(AuthenticationError) as refused:
        await checker.check(principal(sub="svc", iat=NOW - 5, jti="j"))
    assert refused.value.reason == "token-revoked" and seen == ["jti"]


class SlowMemoryStore(MemoryStore):
    """A store that is a MemoryStore by inheritance only: the checker must ask it."""


async def test_nothing_revoked_only_for_an_empty_memory_store() -> None:
    clock = FakeClock(NOW)
    store = MemoryStore(clock)
    checker = RevocationChecker(store)
    assert checker.nothing_revoked()
    await store.add("sub", "svc", NOW, 100)
    assert not checker.nothing_revoked()
    clock.advance(100)  # expired but still held: the checker asks the store, which answers none
    assert not checker.nothing_revoked()
    await checker.check(principal(sub="svc", iat=NOW - 5))
    assert await store.remove("sub", "svc")
    assert checker.nothing_revoked()
    assert not RevocationChecker(SlowMemoryStore(clock)).nothing_revoked()
