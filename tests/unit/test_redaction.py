from __future__ import annotations

import json

import pytest
from aiohttp import web

from gateway.redaction import redact_body, redact_response


@pytest.mark.parametrize(
    ("body", "kind", "expected"),
    [
        (b'{"values":{"2":{"id":"2","api_key":"k"}}}', "application/json", {"values": {"2": {"id": "2"}}}),
        (
            b'{"values":[{"id":1,"api_key":"k","nested":[{"api_key":"x","a":1}]}]}',
            "application/json",
            {"values": [{"id": 1, "nested": [{"a": 1}]}]},
        ),
        (b'{"values":[{"id":1}]}', "application/json", {"values": [{"id": 1}]}),
    ],
)
def test_json_keys_removed_everywhere(body: bytes, kind: str, expected: object) -> None:
    assert json.loads(redact_body(body, kind)) == expected


def test_xml_value_emptied() -> None:
    body = b"<ResultSet><Result><id>2</id><api_key>secret</api_key></Result></ResultSet>"
    assert (
        redact_body(body, "text/xml")
        == b"<ResultSet><Result><id>2</id><api_key></api_key></Result></ResultSet>"
    )


def test_invalid_json_loses_the_key_name_not_the_answer() -> None:
    assert b'"api_key"' not in redact_body(b'{"api_key": "x", broken', "application/json")


def test_allowed_leaves_the_response_alone() -> None:
    response = web.Response(body=b'{"api_key":"k"}', content_type="application/json")
    redact_response(response, lambda: True)
    assert response.body == b'{"api_key":"k"}'
    redact_response(response, lambda: False)
    assert response.body == b"{}"
