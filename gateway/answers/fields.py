"""The answer's field filter: a field the principal may not read is removed from the answer under every key
that carries it. Which keys carry which field is the dialect's word (``Dialect.answer_fields``).

- JSON: parsed and filtered at every depth (records keyed by id or by an ``index``-ed field, chained and
  joined results); an answer that does not parse is refused.
- XML (CiviCRM APIv3): each element whose tag carries a denied field is removed; a denied tag that
  survives (malformed XML) refuses the answer.
- Anything else that is not media (HTML, plain text, CSV...): refused when a denied field's name appears
  in it, since the gateway cannot tell where fields are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from gateway.answers.errors import AnswerUnreadable

FieldsOf = Callable[[str], tuple[str, ...]]
_MEDIA = (
    "image/",
    "audio/",
    "video/",
    "font/",
    "application/pdf",
    "application/zip",
    "application/vnd.openxmlformats-",
    "application/vnd.oasis.opendocument.",
    "application/msword",
    "application/vnd.ms-",
)
"""Files (attachments, documents): their bytes are no field of an answer and mostly compressed, so the
field filter does not read them; the credential guard still runs over them."""
_XML_ELEMENT = re.compile(rb"<([A-Za-z_][\w.:-]*)(?:\s[^<>]*)?(?:/>|>[^<]*</\1\s*>)")
_XML_OPEN = re.compile(rb"<([A-Za-z_][\w.:-]*)[\s/>]")


class FieldFilter:
    __slots__ = ("_denied", "_fields_of", "_memo", "_needles")

    def __init__(self, denied: frozenset[str], fields_of: FieldsOf) -> None:
        self._denied = denied
        self._fields_of = fields_of
        self._needles = tuple(name.encode() for name in sorted(denied))
        self._memo: dict[str, bool] = {}

    @property
    def denied(self) -> frozenset[str]:
        return self._denied

    def inspects(self, content_type: str) -> bool:
        """Whether answers of this media type go through the filter (files do not)."""
        return not content_type.lower().startswith(_MEDIA)

    def denies(self, key: str) -> bool:
        hit = self._memo.get(key)
        if hit is None:
            hit = not self._denied.isdisjoint(self._fields_of(key))
            if len(self._memo) < 4096:
                self._memo[key] = hit
        return hit

    def apply(self, body: bytes, content_type: str) -> bytes:
        """The body without denied fields; AnswerUnreadable when that cannot be made sure of."""
        if not body or not self._denied:
            return body
        kind = content_type.lower()
        lowered = body.lower()
        mentioned = any(needle in lowered for needle in self._needles)
        if "json" in kind:
            if not mentioned and b"\\u" not in body:  # no key can spell a denied field
                return body
            return self._json(body)
        if not mentioned:
            return body
        if "xml" in kind:
            return self._xml(body)
        raise AnswerUnreadable(
            "the CRM's answer names a field this request may not read, in a form the gateway cannot filter"
        )

    def _json(self, body: bytes) -> bytes:
        try:
            parsed = json.loads(body)
            cleaned, changed = self._strip(parsed)
        except (ValueError, RecursionError):
            raise AnswerUnreadable("the CRM's answer is not the JSON its Content-Type says") from None
        if not changed:
            return body
        return json.dumps(cleaned, separators=(",", ":")).encode()

    def _strip(self, value: Any) -> tuple[Any, bool]:
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            changed = False
            for key, item in value.items():
                if self.denies(key):
                    changed = True
                    continue
                out[key], child = self._strip(item)
                changed = changed or child
            return (out if changed else value), changed
        if isinstance(value, list):
            pairs = [self._strip(item) for item in value]
            if any(c for _, c in pairs):
                return [v for v, _ in pairs], True
        return value, False

    def _xml(self, body: bytes) -> bytes:
        def drop(match: re.Match[bytes]) -> bytes:
            return b"" if self._tag_denied(match.group(1)) else match.group(0)

        cleaned = _XML_ELEMENT.sub(drop, body)
        if any(self._tag_denied(m.group(1)) for m in _XML_OPEN.finditer(cleaned)):
            raise AnswerUnreadable("the CRM's XML answer could not be filtered")
        return cleaned

    def _tag_denied(self, tag: bytes) -> bool:
        name = tag.decode("ascii", "replace")
        return self.denies(name) or self.denies(name.rsplit(":", 1)[-1])
