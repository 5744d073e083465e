"""ConcurrencyGuard tells its listener (inflight, queued) only when the pair changes."""

from __future__ import annotations

import asyncio

from gateway.proxy.guard import ConcurrencyGuard


async def test_each_change_is_told_once_and_in_order() -> None:
    guard = ConcurrencyGuard(2, queue_size=2, queue_timeout=5.0)
    told: list[tuple[int, int]] = []
    release = asyncio.Event()

    async def user() -> None:
        async with guard.slot(lambda inflight, queued: told.append((inflight, queued))):
            await release.wait()

    users = [asyncio.ensure_future(user()) for _ in range(4)]
    for _ in range(3):
        await asyncio.sleep(0)
    assert (guard.inflight, guard.queued) == (2, 2)
    release.set()
    await asyncio.gather(*users)
    # A release that hands its slot to a waiter tells (2, 1), then (2, 0); the waiter taking the slot
    # finds the pair unchanged and tells nothing.
    assert told == [(1, 0), (2, 0), (2, 1), (2, 2), (2, 1), (2, 0), (1, 0), (0, 0)]


async def test_an_unchanged_pair_is_not_told_again() -> None:
    guard = ConcurrencyGuard(None)
    told: list[tuple[int, int]] = []
    for _ in range(3):
        async with guard.slot(lambda inflight, queued: told.append((inflight, queued))):
            pass
    # (1, 0) then (0, 0) each time: every value differs from the one told before it
    assert told == [(1, 0), (0, 0)] * 3


async def test_a_slot_without_listener_does_not_hide_a_change_from_the_next_one() -> None:
    guard = ConcurrencyGuard(None)
    told: list[tuple[int, int]] = []
    async with guard.slot(), guard.slot(lambda inflight, queued: told.append((inflight, queued))):
        pass
    assert told == [(2, 0), (1, 0)]
