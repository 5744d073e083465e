"""Access log lines: exact fields, and registered secrets redacted."""

from __future__ import annotations

import io
import json
import re

import pytest

from gateway.dialects.base import Operation
from gateway.observability.access_log import (
    AccessLogger,
    AccessRecord,
    LimiterOutcome,
    operation_strings,
)
from gateway.observability.jsonlines import rfc3339_now
from gateway.observability.redact import forget_secrets, register_secret
from gateway.secrets import Secret

ACCESS_FIELDS = [
    "time",
    "request_id",
    "method",
    "route",
    "principal",
    "issuer",
    "upstream",
    "acting_as",
    "operations",
    "decision",
    "rule",
    "shadow",
    "status",
    "duration_ms",
    "upstream_ms",
    "bytes_in",
    "bytes_out",
    "limiter",
    "reason",
    "client_ip",
]


def record(**overrides: object) -> AccessRecord:
    fields: dict[str, object] = {
        "request_id": "req-00000001",
        "method": "POST",
        "route": "/civicrm/ajax/api4/Contact/get",
        "status": 200,
        "duration_ms": 12.34567,
        "decision": "allow",
        "time": "2024-05-01T12:00:00.000Z",
    }
    fields.update(overrides)
    return AccessRecord(**fields)  # type: ignore[arg-type]


def test_one_compact_json_line_per_request_with_exact_fields() -> None:
    out = io.StringIO()
    logger = AccessLogger(out)
    ops = [Operation("Contact", "get"), Operation("Email", "get", via="chain:api.Email.get")]
    logger.log(
        record(
            principal="svc-newsletter",
            issuer="https://idp.example.org/realms/crm",
            upstream="civi",
            acting_as="contact_id=42",
            operations=operation_strings(ops),
            rule="newsletter-sync",
            upstream_ms=8.0004,
            bytes_in=120,
            bytes_out=2048,
            limiter=LimiterOutcome(allowed=True, remaining=59, backend="redis"),
            client_ip="192.0.2.7",
        )
    )
    logger.log(record(request_id="req-00000002", status=401, decision="deny", reason="token-expired"))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert out.getvalue().endswith("\n")
    assert ", " not in lines[0] and '": ' not in lines[0]  # compact separators
    first = json.loads(lines[0])
    assert list(first) == ACCESS_FIELDS
    assert first == {
        "time": "2024-05-01T12:00:00.000Z",
        "request_id": "req-00000001",
        "method": "POST",
        "route": "/civicrm/ajax/api4/Contact/get",
        "principal": "svc-newsletter",
        "issuer": "https://idp.example.org/realms/crm",
        "upstream": "civi",
        "acting_as": "contact_id=42",
        "operations": ["Contact.get", "Email.get@chain:api.Email.get"],
        "decision": "allow",
        "rule": "newsletter-sync",
        "shadow": [],
        "status": 200,
        "duration_ms": 12.346,
        "upstream_ms": 8.0,
        "bytes_in": 120,
        "bytes_out": 2048,
        "limiter": {"allowed": True, "remaining": 59, "backend": "redis"},
        "reason": None,
        "client_ip": "192.0.2.7",
    }
    second = json.loads(lines[1])
    assert (second["status"], second["decision"], second["reason"], second["limiter"]) == (
        401,
        "deny",
        "token-expired",
        None,
    )


@pytest.mark.parametrize(
    ("route", "logged"),
    [
        ("/civicrm/extern/rest.php?entity=Contact&api_key=abc&key=def", "/civicrm/extern/rest.php"),
        ("/api/v1/Lead#frag", "/api/v1/Lead"),
        ("/api/v1/Lead", "/api/v1/Lead"),
        ("/" + "a" * 5000, "/" + "a" * 2047),
    ],
)
def test_route_never_carries_a_query_string(route: str, logged: str) -> None:
    out = io.StringIO()
    AccessLogger(out).log(record(route=route))
    assert json.loads(out.getvalue())["route"] == logged


def test_record_type_has_no_field_for_credentials() -> None:
    names = set(AccessRecord.__dataclass_fields__)
    assert names == set(ACCESS_FIELDS)
    assert not names & {"token", "headers", "query", "body", "authorization", "cookies", "api_key"}


def test_default_time_is_rfc3339_utc() -> None:
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", AccessRecord("r", "GET", "/", 200, 1.0, "allow").time
    )
    assert rfc3339_now(0.5) == "1970-01-01T00:00:00.500Z"
    assert rfc3339_now(1714564800.0) == "2024-05-01T12:00:00.000Z"


class BrokenStream(io.StringIO):
    def write(self, s: str) -> int:
        raise OSError("disk full")


def test_a_write_failure_is_swallowed_and_counted() -> None:
    counted: list[int] = []
    logger = AccessLogger(BrokenStream(), on_error=lambda: counted.append(1))
    logger.log(record())
    logger.log(record())
    assert logger.failures == 2
    assert counted == [1, 1]


def test_a_failing_error_callback_is_swallowed_too() -> None:
    def explode() -> None:
        raise RuntimeError("metrics gone")

    logger = AccessLogger(BrokenStream(), on_error=explode)
    logger.log(record())
    assert logger.failures == 1


def test_disabled_logger_writes_nothing() -> None:
    out = io.StringIO()
    AccessLogger(out, enabled=False).log(record())
    assert out.getvalue() == ""


def test_default_stream_is_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    AccessLogger().log(record())
    assert json.loads(capsys.readouterr().out)["request_id"] == "req-00000001"


@pytest.mark.parametrize(
    "value",
    ["plain-secret-value", 'quo"te\\slash-secret', "ünïcödé-sëcret", "tab\tand\nnewline-secret"],
)
def test_a_registered_secret_never_reaches_the_access_log(value: str) -> None:
    register_secret(Secret(value, "env:TEST"))
    try:
        out = io.StringIO()
        AccessLogger(out).log(
            record(
                principal=value,
                issuer=f"https://idp/{value}",
                route=f"/civicrm/{value}?api_key={value}",
                operations=(f"Contact.{value}",),
                reason=value,
                client_ip=value,
                limiter=LimiterOutcome(allowed=False, remaining=0, backend=value),
            )
        )
        line = out.getvalue()
        assert value not in line
        assert json.dumps(value)[1:-1] not in line
        parsed = json.loads(line)
        assert parsed["principal"] == "[REDACTED]"
        assert parsed["route"] == "/civicrm/[REDACTED]"
        assert parsed["limiter"]["backend"] == "[REDACTED]"
    finally:
        forget_secrets()


def test_short_values_are_not_registered() -> None:
    register_secret("abc")
    try:
        out = io.StringIO()
        AccessLogger(out).log(record(principal="abc"))
        assert json.loads(out.getvalue())["principal"] == "abc"
    finally:
        forget_secrets()
