"""How PHP turns request variable names and values into ``$_GET``/``$_POST`` (``parse_str`` semantics).

Both CRMs run on PHP: ``a.b`` and ``a b`` become ``a_b`` (in the base name only), ``a[x][]=1`` builds nested
arrays, ``[]`` appends after the largest integer key (refused where PHP versions differ), the last value
wins, a NUL ends a name. Arrays come back as dicts with string keys. Checked against the real
``parse_str`` by ``tests/php/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from gateway.errors import BadRequest

__all__ = ["php_json_decode", "php_name", "php_parse", "php_parse_named"]

ParsedName = tuple[str, list[str | None]]
"""A variable's base name and its bracket indices (``None`` for ``[]``)."""

_PHP_SPACE = " \t\n\v\f\r"
"""C ``isspace()``."""


def php_name(name: str) -> ParsedName | None:
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
            if not indices:  # not an index after all: PHP 8 mangles the rest of the name too
                tail = rest[1:].replace(" ", "_").replace(".", "_").replace("[", "_")
                base = f"{base}_{tail}"
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


def _is_negative_int_key(key: str) -> bool:
    digits = key[1:]
    return key.startswith("-") and _php_int_key(digits) is not None and digits != "0"


def _next_index(array: dict[str, Any], name: str) -> str:
    """Where ``[]`` appends. Refused where PHP versions disagree or PHP drops the value: after a negative
    integer key (PHP 8.3 appends at n + 1, older ones at 0) and after the largest integer."""
    if any(_is_negative_int_key(key) for key in array):
        raise BadRequest(
            f"Parameter '{name}' appends after a negative index, which PHP versions number differently",
            reason="ambiguous-parameter",
        )
    numbers = [n for n in map(_php_int_key, array) if n is not None]
    if numbers and max(numbers) == _PHP_INT_MAX:
        raise BadRequest(
            f"Parameter '{name}' appends after the largest integer index", reason="ambiguous-parameter"
        )
    return str(max(numbers) + 1 if numbers else 0)


def php_parse(items: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """``$_GET``/``$_POST`` as PHP builds them; PHP arrays become dicts with string keys."""
    return php_parse_named((php_name(name), value) for name, value in items)


def php_parse_named(items: Iterable[tuple[ParsedName | None, str]]) -> dict[str, Any]:
    """``php_parse`` of names already split by ``php_name``."""
    root: dict[str, Any] = {}
    for parsed, value in items:
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
            key = _next_index(node, base) if index is None else index
            if position == len(indices) - 1:
                node[key] = value
                break
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
    return root


_INT64 = 2**63
PHP_JSON_DEPTH = 512
"""``json_decode``'s default depth: arrays and objects may nest ``PHP_JSON_DEPTH - 1`` deep; one more and
PHP answers NULL."""


def _php_int(text: str) -> int | float:
    number = int(text)
    return number if -_INT64 <= number < _INT64 else float(text)


def _finite(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise ValueError("a number PHP reads as INF")
    return number


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check(value: Any, depth: int) -> None:
    if isinstance(value, str):
        if not value.isascii() and _SURROGATE.search(value) is not None:
            raise ValueError("a lone UTF-16 surrogate")
        return
    if not isinstance(value, dict | list):
        return
    if depth >= PHP_JSON_DEPTH - 1:
        raise ValueError("nested deeper than PHP decodes")
    for key in value if isinstance(value, dict) else ():
        _check(key, depth)
    for item in value.values() if isinstance(value, dict) else value:
        _check(item, depth + 1)


def php_json_decode(text: str | bytes, object_pairs_hook: Any = None) -> Any:
    """``json_decode($text, TRUE)`` where PHP and Python agree; ValueError (or RecursionError) where PHP
    would fail: invalid UTF-8, ``NaN``/``Infinity``, a number beyond a double, a lone surrogate, more
    than 512 levels. Integers beyond 64 bits become floats, as in PHP."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if text.startswith("\ufeff"):  # as json.loads refuses it
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    decoder = _DECODER if object_pairs_hook is None else _decoder(object_pairs_hook)
    value = decoder.decode(text)
    if object_pairs_hook is not None or not _plainly_within_php(text):
        _check(value, 0)
    return value


def _plainly_within_php(text: str) -> bool:
    """True when no decoded value can hold a lone surrogate (ASCII text without a ``\\u`` escape) nor
    nest ``PHP_JSON_DEPTH - 1`` deep (fewer opening brackets than that): ``_check`` would pass."""
    return text.isascii() and "\\u" not in text and text.count("[") + text.count("{") < PHP_JSON_DEPTH - 1


def _decoder(object_pairs_hook: Any = None) -> json.JSONDecoder:
    """What ``json.loads`` builds per call from these arguments."""
    return json.JSONDecoder(
        parse_int=_php_int,
        parse_float=_finite,
        parse_constant=_refuse_constant,
        object_pairs_hook=object_pairs_hook,
    )


_DECODER = _decoder()


def php_item(value: Any, index: int) -> Any:
    """``$array[index]`` for a JSON list or an object with numeric keys."""
    if isinstance(value, list):
        return value[index] if index < len(value) else None
    if isinstance(value, dict):
        return value.get(str(index))
    return None
