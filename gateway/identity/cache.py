"""Look-up answers kept for a while: bounded, a shorter life for refusals, one fetch per key at a time."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable

Matches = tuple[str, ...]


class LookupCache:
    """``get(key, fetch)``: a fresh cached answer, or the answer of the one fetch running for ``key``
    (concurrent callers share it), or a new fetch. An answer with exactly one match lives ``ttl``
    seconds, any other (none, several) ``negative_ttl``; a failed fetch is not kept. At most
    ``max_entries`` answers are kept, the least recently used go first."""

    def __init__(self, ttl: float, negative_ttl: float, max_entries: int, clock: Callable[[], float]) -> None:
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.max_entries = max_entries
        self.clock = clock
        self.fetches = 0
        self._entries: OrderedDict[Hashable, tuple[float, Matches]] = OrderedDict()
        self._running: dict[Hashable, asyncio.Task[Matches]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: Hashable, fetch: Callable[[], Awaitable[Matches]]) -> Matches:
        entry = self._entries.get(key)
        if entry is not None:
            if entry[0] > self.clock():
                self._entries.move_to_end(key)
                return entry[1]
            del self._entries[key]
        task = self._running.get(key)
        if task is None:
            task = asyncio.ensure_future(self._fetch(key, fetch))
            self._running[key] = task
        # shielded: a caller that goes away does not cancel the fetch the others are waiting for
        return await asyncio.shield(task)

    async def _fetch(self, key: Hashable, fetch: Callable[[], Awaitable[Matches]]) -> Matches:
        self.fetches += 1
        try:
            matches = await fetch()
        finally:
            self._running.pop(key, None)
        life = self.ttl if len(matches) == 1 else self.negative_ttl
        self._entries[key] = (self.clock() + life, matches)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return matches
