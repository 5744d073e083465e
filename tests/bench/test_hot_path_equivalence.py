"""The hot-path shortcuts taken for performance (docs/performance.md) give exactly what they replace."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_plus, urlencode

import pytest

import gateway.exchange
from gateway.dialects.base import Operation
from gateway.exchange import Exchange, access_line, access_record
from gateway.observability.access_log import (
    AccessRecord,
    LimiterOutcome,
    access_fields,
    render_access_line,
)
from gateway.observability.jsonlines import rfc3339_now
from gateway.observability.redact import forget_secrets, register_secret
from gateway.proxy.forward import form_encode
from gateway.ratelimit.base import Limit, LimitResult


@pytest.fixture(autouse=True)
def no_registered_secrets() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


def record(**overrides: Any) -> AccessRecord:
    fields: dict[str, Any] = {
        "request_id": "5f0c9a1e2b3d4c5e",
        "method": "GET",
        "route": "/api/v1/Lead",
        "status": 200,
        "duration_ms": 5.4321,
        "decision": "allow",
        "principal": "bench-integration",
        "issuer": "https://idp.example.org",
        "upstream": "espo",
        "operations": ("Lead.read", "Email.get@chain:api.Email.get"),
        "rule": "p:entities.Lead.read",
        "upstream_ms": 1.2345678,
        "bytes_out": 394,
        "limiter": LimiterOutcome(True, 998, "memory"),
        "client_ip": "127.0.0.1",
        "time": "2024-05-01T12:00:00.123Z",
    }
    fields.update(overrides)
    return AccessRecord(**fields)


RECORDS = {
    "typical": record(),
    "refused early": record(
        principal=None, issuer=None, upstream=None, operations=(), rule=None, upstream_ms=None, limiter=None
    ),
    "limiter without remaining": record(limiter=LimiterOutcome(False, None, "redis"), reason="rate-limited"),
    "quotes, controls and unicode": record(
        principal='sv"c\\x\n\t\x01', route="/api/v1/Lé\u2028ad", operations=("Ünïcode.get",), client_ip=""
    ),
    "whole-number duration": record(duration_ms=7, upstream_ms=0.0, bytes_in=12),
    "not finite duration": record(duration_ms=math.inf, upstream_ms=math.nan),
    "bool where an int is expected": record(bytes_out=True),
    "float where an int is expected": record(status=200.0),
    "non-string principal": record(principal=42),
}


@pytest.mark.parametrize("case", RECORDS)
def test_access_line_is_byte_for_byte_the_generic_json(case: str) -> None:
    rec = RECORDS[case]
    expected = json.dumps(access_fields(rec), separators=(",", ":"), default=str)
    assert render_access_line(rec) == expected


def test_access_line_still_redacts_a_registered_secret() -> None:
    register_secret("s3cr3t-value-123")
    line = render_access_line(record(principal="user s3cr3t-value-123"))
    assert "s3cr3t" not in line
    assert json.loads(line)["principal"] == "user [REDACTED]"


def exchange(**overrides: Any) -> Exchange:
    fields: dict[str, Any] = {
        "request_id": "5f0c9a1e2b3d4c5e",
        "method": "GET",
        "started": 0.0,
        "client_ip": "127.0.0.1",
        "upstream": "espo",
        "route": "/api/v1/Lead",
        "principal": "bench-integration",
        "issuer": "https://idp.example.org",
        "acting_as": "identities[0]",
        "operations": [Operation("Lead", "read"), Operation("Email", "get", "chain:api.Email.get")],
        "decision": "allow",
        "rule": "p:entities.Lead.read",
        "limiter": LimitResult(True, Limit("{k}:a", 10.0, 5, "a"), 4, 0.1, 0.0, "memory"),
        "upstream_seconds": 0.0012345678,
        "bytes_out": 394,
    }
    fields.update(overrides)
    return Exchange(**fields)


EXCHANGES = {
    "typical": exchange(),
    "refused early": exchange(
        upstream=None, principal=None, issuer=None, acting_as=None, operations=[], rule="", limiter=None
    ),
    "shadow, reason, no upstream time": exchange(
        shadow=["s:entities.Email.default"], reason="rate-limited", upstream_seconds=None
    ),
    "route with query and fragment": exchange(route="/api/v1/Lead?x=1#f" + "a" * 3000),
    "quotes, controls and unicode": exchange(principal='sv"c\\x\n\t\x01', route="/api/v1/Lé\u2028ad"),
    "JWT-shaped principal": exchange(principal="eyJhbGciOi.eyJzdWIi.sig"),
    "registered secret": exchange(acting_as="user s3cr3t-value-123"),
    "non-string principal": exchange(principal=42),
    "bool bytes": exchange(bytes_out=True),
}


@pytest.mark.parametrize("case", EXCHANGES)
@pytest.mark.parametrize("status", [200, 429, 200.0])
def test_the_access_line_of_an_exchange_is_its_records_line(
    case: str, status: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_secret("s3cr3t-value-123")
    monkeypatch.setattr(gateway.exchange, "rfc3339_now", lambda: "2024-05-01T12:00:00.123Z")
    ex = EXCHANGES[case]
    line = access_line(ex, status, 0.0054321)
    assert line == render_access_line(access_record(ex, status, 0.0054321, "2024-05-01T12:00:00.123Z"))
    assert "s3cr3t" not in line


@pytest.mark.parametrize(
    "now",
    [0.0, 0.5, 59.999, 60.0, 1714564800.0, 1714564800.9995, 1714564801.25, -0.5, -1.25, 4102444799.999],
)
def test_timestamp_matches_a_fresh_strftime(now: float) -> None:
    rfc3339_now(now + 3600.0)  # another second is cached first
    expected = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
    assert rfc3339_now(now) == expected
    assert rfc3339_now(now) == expected  # and from the cache


QUERIES = {
    "plain": [("maxSize", "5"), ("offset", "0")],
    "reserved": [("select", "name,emailAddress"), ("where[0][type]", "equals"), ("q", "a&b=c;d/e?f#g")],
    "spaces and plus": [("q", "Ada Lovelace+1"), ("k ey", " ")],
    "json": [("params", json.dumps({"select": ["display_name"], "where": [["id", "=", 1]]}))],
    "unicode": [("name", "Zoë Ünal"), ("emoji", "\U0001f600"), ("cjk", "名前")],
    "unreserved only": [("a-b_c.d~e", "A-Z_a.z~0")],
    "empty": [("", ""), ("empty", "")],
    "percent and controls": [("p", "100%"), ("c", "\x00\x1f\x7f")],
}


@pytest.mark.parametrize("case", QUERIES)
def test_form_encoding_is_urlencode(case: str) -> None:
    assert form_encode(QUERIES[case]) == urlencode(QUERIES[case])


def test_every_character_quotes_as_quote_plus_does() -> None:
    for code in (*range(0, 0x800), 0xFFFD, 0x1F600):
        value = f"{chr(code)}x {chr(code)}"
        assert form_encode([(value, value)]) == f"{quote_plus(value)}={quote_plus(value)}", hex(code)


def test_a_lone_surrogate_fails_like_urlencode() -> None:
    with pytest.raises(UnicodeEncodeError):
        urlencode([("k", "\ud800")])
    with pytest.raises(UnicodeEncodeError):
        form_encode([("k", "\ud800")])
