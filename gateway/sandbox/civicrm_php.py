"""The request as the sandbox CiviCRM's PHP sees it, and the PHP behaviours its checks depend on.

``$_GET``/``$_POST`` parsing (``php_parse``, ``parse_body``), ``empty()``, string conversion,
``json_encode``, and :class:`Refusal`: an answer already rendered, raised to end the request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl

from multidict import CIMultiDictProxy

_BRACKETS = re.compile(r"^([^\[]+)(\[.*\].*)$")


@dataclass
class PhpRequest:
    """The request as PHP sees it: ``$_GET``, ``$_POST`` (POST only), headers, and the CiviCRM route."""

    method: str
    route: str
    get: dict[str, Any]
    post: dict[str, Any]
    headers: CIMultiDictProxy[str]
    json_body: Any = None

    @property
    def request(self) -> dict[str, Any]:
        """``$_REQUEST`` with request_order "GP": POST overrides GET."""
        return {**self.get, **self.post}

    def header(self, name: str) -> str | None:
        values = self.headers.getall(name, [])
        return ", ".join(values) if values else None


class Refusal(Exception):
    def __init__(self, status: int, body: str, content_type: str) -> None:
        super().__init__(body)
        self.status = status
        self.body = body
        self.content_type = content_type


def php_parse(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """PHP's ``$_GET``/``$_POST`` from decoded pairs: last wins, ``.`` and space in names become ``_``,
    ``a[b][]=v`` builds nested arrays (as dicts with string keys)."""
    out: dict[str, Any] = {}
    for raw, value in pairs:
        match = _BRACKETS.match(raw)
        base, tail = (match.group(1), match.group(2)) if match else (raw, "")
        base = base.lstrip(" ").replace(".", "_").replace(" ", "_").replace("[", "_")
        if not base:
            continue
        container, key = out, base
        for segment in re.findall(r"\[([^\]]*)\]", tail):
            child = container.get(key)
            if not isinstance(child, dict):
                child = container[key] = {}
            container = child
            key = segment or str(max((int(k) + 1 for k in child if k.lstrip("-").isdigit()), default=0))
        container[key] = value
    return out


def parse_body(method: str, content_type: str, body: bytes) -> tuple[dict[str, Any], Any]:
    """(``$_POST``, JSON body): PHP fills ``$_POST`` only for POST forms; WordPress also reads JSON."""
    mime = content_type.partition(";")[0].strip().lower()
    post: dict[str, Any] = {}
    if mime == "application/x-www-form-urlencoded":
        fields = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        post = php_parse(fields) if method == "POST" else {}
    elif mime == "multipart/form-data" and method == "POST":
        message = BytesParser(policy=policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n" + body
        )
        parts = message.iter_parts() if message.is_multipart() else iter(())
        post = php_parse((_part_name(part), _part_text(part)) for part in parts)
    json_body = None
    if mime == "application/json" and body:
        try:
            json_body = json.loads(body)
        except ValueError:
            json_body = None
    return post, json_body


def _part_name(part: Any) -> str:
    name = part.get_param("name", header="content-disposition")
    return name if isinstance(name, str) else ""


def _part_text(part: Any) -> str:
    payload = part.get_payload(decode=True) or b""
    return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload)


def php_json(value: Any) -> str:
    """``json_encode`` defaults: compact, ``\\/`` for slashes, ASCII escapes."""
    return json.dumps(value, separators=(",", ":")).replace("/", "\\/")


def server_error() -> Refusal:
    return Refusal(500, "HTTP 500 Internal Server Error", "text/plain")


def php_empty(value: Any) -> bool:
    return value is None or value in ("", "0") or value == [] or value == {}


def php_str(value: Any) -> str:
    return "Array" if isinstance(value, list | dict) else "" if value is None else str(value)
