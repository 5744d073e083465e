"""Bounded memos of per-request policy answers, keyed by exactly what those answers read of a principal.

A PolicySet owns its memos, so a reload (a new PolicySet) starts with empty ones. Integrations repeat
the same few calls, so a small memo answers most requests.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

from gateway.principal import Principal

V = TypeVar("V")

MEMO_SIZE = 4096
"""Entries per memo: beyond that the least recently used one goes."""

PrincipalKey = tuple[str, str, frozenset[str], frozenset[str]]


def principal_key(principal: Principal) -> PrincipalKey:
    """Every part of a principal that a decision or a limit can depend on: ``Subjects.match`` reads
    the subject, roles and scopes; limiter keys read the issuer and subject.

    Nothing else is read by ``PolicySet.evaluate``, ``PolicySet.charges_for`` or ``limits_for_request``:
    claims are read by record scopes and identity rules, which are applied per request, outside the
    memos. Whoever makes a policy read more of a principal must add it here
    (``tests/unit/policy/test_policy_decision_cache.py`` fails when Principal or Subjects gain a field).
    """
    return (principal.issuer, principal.subject, principal.roles, principal.scopes)


class Memo(Generic[V]):
    """At most ``size`` entries; the least recently used goes first."""

    __slots__ = ("_entries", "size")

    def __init__(self, size: int = MEMO_SIZE) -> None:
        if size < 1:
            raise ValueError("a memo holds at least one entry")
        self.size = size
        self._entries: OrderedDict[Hashable, V] = OrderedDict()

    def get(self, key: Hashable) -> V | None:
        """The value stored under ``key``, or None. TypeError when ``key`` is not hashable."""
        entries = self._entries
        value = entries.get(key)
        if value is not None:
            entries.move_to_end(key)
        return value

    def put(self, key: Hashable, value: V) -> None:
        entries = self._entries
        entries[key] = value
        if len(entries) > self.size:
            entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
