"""JSON as EspoCRM reads a request (PHP json_decode), duplicate keys refused (never guessed)."""

from __future__ import annotations

from typing import Any

from gateway.dialects.phpparams import php_json_decode
from gateway.errors import BadRequest


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise BadRequest("Duplicate key in JSON body.", reason="bad-json")
        out[key] = value
    return out


def parse_json(data: bytes | str, what: str) -> Any:
    try:
        return php_json_decode(data, object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequest(f"{what} is not valid JSON.", reason="bad-json") from None
