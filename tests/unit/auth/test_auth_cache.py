from __future__ import annotations

from gateway.auth.cache import VerifiedTokenCache
from gateway.principal import Principal
from tests.support.jwt_factory import FakeClock


def _p(name: str) -> Principal:
    return Principal(subject=name, issuer="i")


def test_entry_lives_until_exp_by_the_injected_clock() -> None:
    clock = FakeClock(1000)
    cache = VerifiedTokenCache(10, clock)
    cache.put("tok", _p("a"), expires_at=1060)
    clock.advance(59.9)
    assert cache.get("tok") == _p("a")
    clock.advance(0.1)
    assert cache.get("tok") is None
    assert len(cache) == 0


def test_least_recently_used_goes_first() -> None:
    cache = VerifiedTokenCache(2, FakeClock(0))
    cache.put("a", _p("a"), 100)
    cache.put("b", _p("b"), 100)
    assert cache.get("a") is not None
    cache.put("c", _p("c"), 100)
    assert cache.get("b") is None
    assert cache.get("a") is not None and cache.get("c") is not None


def test_expired_entry_is_evicted_before_a_live_one() -> None:
    clock = FakeClock(0)
    cache = VerifiedTokenCache(2, clock)
    cache.put("live", _p("live"), 100)
    cache.put("short", _p("short"), 10)
    clock.advance(20)
    cache.put("new", _p("new"), 100)
    assert cache.get("live") is not None and cache.get("new") is not None


def test_already_expired_and_zero_size_are_not_stored() -> None:
    clock = FakeClock(50)
    cache = VerifiedTokenCache(5, clock)
    cache.put("old", _p("old"), 50)
    assert len(cache) == 0
    disabled = VerifiedTokenCache(0, clock)
    disabled.put("t", _p("t"), 100)
    assert disabled.get("t") is None


def test_token_itself_is_not_kept() -> None:
    cache = VerifiedTokenCache(5, FakeClock(0))
    cache.put("eyJsecret-token", _p("a"), 100)
    assert all(b"secret-token" not in key for key in cache._entries)
