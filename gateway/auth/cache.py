"""Verified-token cache: a repeated token costs a hash and a dict lookup, no signature check.

Bounded LRU keyed by the SHA-256 of the token (the token itself is not kept), each entry valid until
the token's ``exp`` as told by the injected clock.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from itertools import islice

from gateway.principal import Principal


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class VerifiedTokenCache:
    def __init__(self, max_size: int, clock: Callable[[], float]) -> None:
        if max_size < 0:
            raise ValueError("max_size must be >= 0")
        self._max_size = max_size
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[float, Principal]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str) -> Principal | None:
        key = _digest(token)
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, principal = entry
        if self._clock() >= expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return principal

    def put(self, token: str, principal: Principal, expires_at: float) -> None:
        if self._max_size == 0 or self._clock() >= expires_at:
            return
        key = _digest(token)
        self._entries[key] = (expires_at, principal)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_size:
            self._evict_one()

    def _evict_one(self) -> None:
        """Drop an expired entry among the oldest few if any, else the least recently used."""
        now = self._clock()
        for key, (expires_at, _) in list(islice(self._entries.items(), 8)):
            if now >= expires_at:
                del self._entries[key]
                return
        self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
