"""Gateway refusals as CiviCRM clients read them.

Every body carries ``is_error: 1``, ``error_code`` and ``error_message`` (clients that ignore the
HTTP status look for them), with the real status. APIv4 routes answer JSON in the shape of
``CRM_Api4_Page_AJAX``; APIv3 routes answer JSON when the client sent ``json`` (WordPress REST:
always), otherwise the XML of ``CRM_Utils_REST::output``.
"""

from __future__ import annotations

import enum
import json
from typing import Any

from gateway.dialects.base import ErrorRendering
from gateway.errors import GatewayError

JSON_TYPE = "application/json"
XML_TYPE = "text/xml"
_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"})
_XML_INVALID = {cp: "\ufffd" for cp in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF)}


class Style(enum.Enum):
    V4 = "v4"
    V3_JSON = "v3-json"
    V3_XML = "v3-xml"


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def xml_text(value: object) -> str:
    """Text safe inside an XML element: markup escaped, characters XML 1.0 forbids replaced."""
    return str(value).translate(_XML_INVALID).translate(_XML_ESCAPES)


def _xml(error: GatewayError) -> bytes:
    fields = (("is_error", 1), ("error_message", error.message), ("error_code", error.reason))
    rows = "".join(f"    <{name}>{xml_text(value)}</{name}>\n" for name, value in fields)
    document = (
        '<?xml version="1.0"?>\n'
        '<ResultSet xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        f"<Result>\n{rows}</Result>\n"
        "</ResultSet>\n"
    )
    return document.encode("utf-8")


def render(error: GatewayError, style: Style) -> ErrorRendering:
    headers = dict(error.headers)
    if style is Style.V3_XML:
        return ErrorRendering(error.status, headers, _xml(error), XML_TYPE)
    if style is Style.V3_JSON:
        body = {"is_error": 1, "error_message": error.message, "error_code": error.reason}
    else:
        body = {
            "error_code": error.reason,
            "error_message": error.message,
            "status": error.status,
            "is_error": 1,
        }
    return ErrorRendering(error.status, headers, _json(body), JSON_TYPE)
