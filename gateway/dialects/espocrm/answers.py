"""Which field a key of an EspoCRM answer carries, for the answer's field filter.

EspoCRM answers a link field under derived keys: ``assignedUserId``/``assignedUserName`` for a link,
``teamsIds``/``teamsNames``/``teamsColumns`` for a link-multiple, ``parentId``/``parentType``/``parentName``
for a link-parent, ``emailAddressData`` for the address lists. A key carries the field of its own name and,
when it ends with one of those suffixes, the field it derives from.
"""

from __future__ import annotations

_SUFFIXES = ("ids", "id", "names", "name", "columns", "types", "type", "data")


def answer_fields(key: str) -> tuple[str, ...]:
    low = key.strip().lower()
    derived = [low[: -len(s)] for s in _SUFFIXES if low.endswith(s) and len(low) > len(s)]
    return (low, *derived)
