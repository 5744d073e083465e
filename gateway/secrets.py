"""A secret value that cannot be formatted into a log line, a repr or an error by accident."""

from __future__ import annotations

from typing import Final


class Secret:
    __slots__ = ("_source", "_value")

    def __init__(self, value: str, source: str = "inline") -> None:
        self._value: Final = value
        self._source: Final = source

    def reveal(self) -> str:
        return self._value

    @property
    def source(self) -> str:
        """Where the value came from (``env:NAME``, ``file:/path`` or ``inline``); safe to log."""
        return self._source

    def __repr__(self) -> str:
        return f"Secret(<{self._source}>)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)
