"""Introspection answers, cached: keyed by the SHA-256 of the token and the issuer (the token itself is
never kept), bounded (least recently used goes first), and one look-up at a time per token.

A positive answer is fresh until ``min(exp, now + ttl)`` and kept, stale, until ``exp`` (for the
``cached`` on_error mode); a negative answer is fresh for a few seconds and then dropped.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gateway.principal import Principal


def cache_key(token: str, issuer: str) -> tuple[str, bytes]:
    return issuer, hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True, slots=True)
class Answer:
    principal: Principal | None
    """``None``: the IdP said the token is not active (or the gateway refused what it said)."""
    fresh_until: float
    keep_until: float
    reason: str = "inactive-token"


class IntrospectionCache:
    def __init__(self, max_size: int, clock: Callable[[], float]) -> None:
        self._max_size = max_size
        self._clock = clock
        self._entries: OrderedDict[tuple[str, bytes], Answer] = OrderedDict()
        self._inflight: dict[tuple[str, bytes], asyncio.Task[Answer]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple[str, bytes]) -> Answer | None:
        """The answer kept for ``key`` (fresh or stale), or None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() >= entry.keep_until:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: tuple[str, bytes], answer: Answer) -> None:
        if self._clock() >= answer.keep_until:
            self._entries.pop(key, None)
            return
        self._entries[key] = answer
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_size:
            self._entries.popitem(last=False)

    async def once(self, key: tuple[str, bytes], lookup: Callable[[], Awaitable[Answer]]) -> Answer:
        """Run ``lookup`` for ``key`` unless one is already running; every caller gets its outcome. A
        caller that goes away does not cancel the look-up the others wait for."""
        task = self._inflight.get(key)
        if task is None:

            async def run() -> Answer:
                answer = await lookup()
                self.put(key, answer)
                return answer

            task = asyncio.ensure_future(run())
            self._inflight[key] = task
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        return await asyncio.shield(task)

    def clear(self) -> None:
        self._entries.clear()
