"""Field names inside an APIv4 SQL expression (``select``, ``groupBy``, ``orderBy`` keys, join conditions).

Names, dotted joins, ``:suffix`` pseudoconstants, ``*``, SQL function calls, ``AS`` aliases, numbers and
quoted literals are read; any other character (a backtick, ``;``, ``#``...) is refused, since the gateway
could not say which identifiers it names.
"""

from __future__ import annotations

import re

from gateway.errors import BadRequest

_KEYWORDS = frozenset(
    {
        "AS",
        "DISTINCT",
        "ASC",
        "DESC",
        "NULL",
        "TRUE",
        "FALSE",
        "AND",
        "OR",
        "NOT",
        "IS",
        "IN",
        "LIKE",
        "BETWEEN",
        "SEPARATOR",
        "ORDER",
        "BY",
        "CASE",
        "WHEN",
        "THEN",
        "ELSE",
        "END",
        "INTERVAL",
    }
)
_TOKEN = re.compile(
    r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.(?:[A-Za-z0-9_]+|\*))*(?::[A-Za-z0-9_]+)?)"
    r"|(?P<star>\*)|\d+(?:\.\d+)?|\S",
    re.S,
)
_QUOTES = frozenset("'\"")
_PUNCTUATION = frozenset("(),+-*/=<>!%")


def expression_fields(expr: str) -> list[str]:
    """Field names an APIv4 SQL expression reads (``GROUP_CONCAT(e.email) AS x`` -> ``e.email``)."""
    found: list[str] = []
    previous = ""
    for match in _TOKEN.finditer(expr):
        name = match.group("name") or match.group("star")
        token = match.group(0)
        if not name and token[0] not in _QUOTES and token not in _PUNCTUATION and not token[0].isdigit():
            raise BadRequest(f"Cannot read '{token}' in an APIv4 expression", reason="bad-field")
        is_call = expr[match.end() :].lstrip().startswith("(")
        if name and not is_call and previous.upper() != "AS" and name.upper() not in _KEYWORDS:
            found.append(name)
        previous = token
    return found
