"""Revocation entries, the tokens they match, and the in-memory store (one process).

An entry names a ``jti`` (that token), a ``sub`` or a ``client`` id (the tokens issued until the
revocation: ``iat`` at most ``revoked_at`` plus the leeway, or no ``iat`` at all). Each entry is kept
for the longest lifetime a token may have, so it outlives every token it targets and no longer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.principal import Principal

CLIENT_CLAIMS = ("client_id", "azp")
"""Where a token names its OAuth client: RFC 9068 / RFC 7662 ``client_id``, else OIDC ``azp``."""


@dataclass(frozen=True, slots=True)
class Entry:
    kind: str
    value: str
    revoked_at: float
    expires_at: float


class RevocationStore(Protocol):
    async def add(self, kind: str, value: str, revoked_at: float, ttl_seconds: float) -> Entry: ...

    async def remove(self, kind: str, value: str) -> bool: ...

    async def lookup(self, targets: Sequence[tuple[str, str]]) -> list[Entry]:
        """The live entries among ``targets`` (``(kind, value)`` pairs)."""
        ...

    async def entries(self) -> list[Entry]: ...

    async def close(self) -> None: ...


def targets(principal: Principal) -> list[tuple[str, str]]:
    """The ``(kind, value)`` pairs an entry could name for this token."""
    claims: Mapping[str, Any] = principal.claims
    found = [("sub", principal.subject)]
    jti = claims.get("jti")
    if isinstance(jti, str) and jti:
        found.append(("jti", jti))
    for name in CLIENT_CLAIMS:
        client = claims.get(name)
        if isinstance(client, str) and client:
            found.append(("client", client))
            break
    return found


def matching(entries: Sequence[Entry], principal: Principal, leeway: float) -> Entry | None:
    """The first entry that revokes this token, if any."""
    iat = principal.claims.get("iat")
    issued = float(iat) if isinstance(iat, int | float) and not isinstance(iat, bool) else None
    for entry in entries:
        if entry.kind == "jti" or issued is None or issued <= entry.revoked_at + leeway:
            return entry
    return None


class MemoryStore:
    def __init__(self, clock: Callable[[], float] = time.time, max_entries: int = 100_000) -> None:
        self._clock = clock
        self._max = max_entries
        self._entries: dict[tuple[str, str], Entry] = {}

    async def add(self, kind: str, value: str, revoked_at: float, ttl_seconds: float) -> Entry:
        self._expire()
        if len(self._entries) >= self._max:
            raise OverflowError("the in-memory revocation list is full")
        entry = Entry(kind, value, revoked_at, revoked_at + ttl_seconds)
        self._entries[(kind, value)] = entry
        return entry

    async def remove(self, kind: str, value: str) -> bool:
        return self._entries.pop((kind, value), None) is not None

    def empty(self) -> bool:
        return not self._entries

    async def lookup(self, targets: Sequence[tuple[str, str]]) -> list[Entry]:
        if not self._entries:
            return []
        now = self._clock()
        found = (self._entries.get(target) for target in targets)
        return [entry for entry in found if entry is not None and now < entry.expires_at]

    async def entries(self) -> list[Entry]:
        self._expire()
        return sorted(self._entries.values(), key=lambda e: e.revoked_at)

    async def close(self) -> None:
        return None

    def _expire(self) -> None:
        now = self._clock()
        for key in [key for key, entry in self._entries.items() if now >= entry.expires_at]:
            del self._entries[key]
