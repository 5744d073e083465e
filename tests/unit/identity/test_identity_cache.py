"""LookupCache: one fetch per key at a time, a TTL for answers and a shorter one for refusals, bounded."""

from __future__ import annotations

import asyncio

import pytest

from gateway.identity.cache import LookupCache, Matches


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Directory:
    """Answers from a table, counting fetches per key; ``gate`` holds fetches until set."""

    def __init__(self, table: dict[str, Matches]) -> None:
        self.table = table
        self.fetched: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()

    def fetch(self, key: str):  # type: ignore[no-untyped-def]
        async def run() -> Matches:
            self.fetched.append(key)
            await self.gate.wait()
            if key == "down":
                raise ConnectionError("CRM down")
            return self.table.get(key, ())

        return run


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def test_one_fetch_serves_many_until_the_ttl(clock: Clock) -> None:
    cache = LookupCache(ttl=60, negative_ttl=5, max_entries=10, clock=clock)
    crm = Directory({"ada": ("7",)})
    for _ in range(5):
        assert await cache.get("ada", crm.fetch("ada")) == ("7",)
    clock.now += 59.9
    await cache.get("ada", crm.fetch("ada"))
    assert crm.fetched == ["ada"]
    clock.now += 0.2
    await cache.get("ada", crm.fetch("ada"))
    assert crm.fetched == ["ada", "ada"]


@pytest.mark.parametrize(("key", "answer"), [("nobody", ()), ("twins", ("11", "12"))])
async def test_refusals_are_kept_briefly(clock: Clock, key: str, answer: Matches) -> None:
    cache = LookupCache(ttl=60, negative_ttl=5, max_entries=10, clock=clock)
    crm = Directory({"twins": ("11", "12")})
    assert await cache.get(key, crm.fetch(key)) == answer
    clock.now += 4.9
    await cache.get(key, crm.fetch(key))
    clock.now += 0.2
    await cache.get(key, crm.fetch(key))
    assert crm.fetched == [key, key]


async def test_concurrent_callers_share_one_fetch_and_a_failure_is_not_kept(clock: Clock) -> None:
    cache = LookupCache(ttl=60, negative_ttl=5, max_entries=10, clock=clock)
    crm = Directory({"ada": ("7",)})
    crm.gate.clear()
    waiting = [asyncio.ensure_future(cache.get("ada", crm.fetch("ada"))) for _ in range(8)]
    await asyncio.sleep(0)
    crm.gate.set()
    assert await asyncio.gather(*waiting) == [("7",)] * 8
    assert crm.fetched == ["ada"]
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await cache.get("down", crm.fetch("down"))
    assert crm.fetched == ["ada", "down", "down"]


async def test_a_caller_that_goes_away_does_not_cancel_the_shared_fetch(clock: Clock) -> None:
    cache = LookupCache(ttl=60, negative_ttl=5, max_entries=10, clock=clock)
    crm = Directory({"ada": ("7",)})
    crm.gate.clear()
    first = asyncio.ensure_future(cache.get("ada", crm.fetch("ada")))
    second = asyncio.ensure_future(cache.get("ada", crm.fetch("ada")))
    await asyncio.sleep(0)
    first.cancel()
    crm.gate.set()
    assert await second == ("7",)
    assert crm.fetched == ["ada"]


async def test_bounded_least_recently_used_first(clock: Clock) -> None:
    cache = LookupCache(ttl=60, negative_ttl=5, max_entries=2, clock=clock)
    crm = Directory({"a": ("1",), "b": ("2",), "c": ("3",)})
    await cache.get("a", crm.fetch("a"))
    await cache.get("b", crm.fetch("b"))
    await cache.get("a", crm.fetch("a"))  # a used again: b is now the oldest
    await cache.get("c", crm.fetch("c"))
    assert len(cache) == 2
    await cache.get("a", crm.fetch("a"))
    await cache.get("b", crm.fetch("b"))
    assert crm.fetched == ["a", "b", "c", "b"]
