"""Defence in depth for CiviCRM answers: an ``api_key`` value never reaches a client the policies do not
explicitly allow it (the request-side field rules refuse asking for it; this catches answers that carry
it anyway, e.g. an APIv3 ``get`` returning every field)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

SENSITIVE = "api_key"
_XML = re.compile(rb"<api_key>[^<]*</api_key>")
_MARKER = b'"api_key"'


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k != SENSITIVE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def carries_key(body: bytes) -> bool:
    return _MARKER in body or b"<api_key>" in body


def redact_body(body: bytes, content_type: str) -> bytes:
    if "json" in content_type:
        if _MARKER not in body:
            return body
        try:
            parsed = json.loads(body)
        except ValueError:
            return body.replace(_MARKER, b'"_redacted_"')
        return json.dumps(_strip(parsed), separators=(",", ":")).encode()
    if "xml" in content_type and b"<api_key>" in body:
        return _XML.sub(b"<api_key></api_key>", body)
    return body


def redact_response(response: web.StreamResponse, allowed: Callable[[], bool]) -> None:
    """Rewrite a buffered response in place unless ``allowed()``; streamed responses are left alone."""
    if not isinstance(response, web.Response) or not isinstance(response.body, bytes):
        return
    body = response.body
    if not carries_key(body) or allowed():
        return
    cleaned = redact_body(body, response.headers.get("Content-Type", "").lower())
    if cleaned is not body:
        response.body = cleaned
