"""How PHP turns request variable names and values into ``$_GET``/``$_POST`` (``parse_str`` semantics).

Both CRMs run on PHP: ``a.b`` and ``a b`` become ``a_b`` (in the base name only), ``a[x][]=1`` builds nested
arrays, ``[]`` appends after the largest integer key, the last value wins, a NUL ends a name. Arrays come
back as dicts with string keys. Checked against the real ``parse_str`` by ``tests/php/``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["php_name", "php_parse"]

_PHP_SPACE = " \t\n\v\f\r"
"""C ``isspace()``."""


def php_name(name: str) -> tuple[str, list[str | None]] | None:
    """Split a request variable name as PHP does: mangled base name plus bracket indices
    (``None`` for ``[]``, and for ``[ ]``: PHP skips one space character before ``]``). PHP reads the
    name as a C string, so a NUL ends it. None when PHP would drop the variable."""
    name = name.split("\x00", 1)[0].lstrip(" ")
    open_at = name.find("[")
    base = (name if open_at < 0 else name[:open_at]).replace(" ", "_").replace(".", "_")
    rest = "" if open_at < 0 else name[open_at:]
    if not base:
        return None
    indices: list[str | None] = []
    while rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            if not indices:
                base = f"{base}_{rest[1:]}"
            break
        index = rest[1:close]
        indices.append(None if index == "" or (len(index) == 1 and index in _PHP_SPACE) else index)
        rest = rest[close + 1 :]
    return base, indices


_PHP_INT_MAX = 2**63 - 1


def _php_int_key(key: str) -> int | None:
    """The integer PHP makes of an array key: a canonical ASCII decimal within its int range."""
    if not (key.isascii() and key.isdigit()) or len(key) > 19 or (key.startswith("0") and key != "0"):
        return None
    number = int(key)
    return number if number <= _PHP_INT_MAX else None


def _next_index(array: dict[str, Any]) -> str:
    numbers = [n for n in map(_php_int_key, array) if n is not None]
    return str(max(numbers) + 1 if numbers else 0)


def php_parse(items: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """``$_GET``/``$_POST`` as PHP builds them; PHP arrays become dicts with string keys."""
    root: dict[str, Any] = {}
    for raw_name, value in items:
        parsed = php_name(raw_name)
        if parsed is None:
            continue
        base, indices = parsed
        if not indices:
            root[base] = value
            continue
        node = root.get(base)
        if not isinstance(node, dict):
            node = root[base] = {}
        for position, index in enumerate(indices):
            key = _next_index(node) if index is None else index
            if position == len(indices) - 1:
                node[key] = value
                break
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
    return root
