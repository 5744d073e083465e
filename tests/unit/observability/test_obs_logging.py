"""Access log lines, the process logger, and redaction of registered secrets."""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
from collections.abc import Iterator

import pytest

from gateway.dialects.base import Operation
from gateway.observability.logging import (
    AccessLogger,
    AccessRecord,
    LimiterOutcome,
    RedactingFilter,
    forget_secrets,
    operation_strings,
    register_secret,
    rfc3339_now,
    setup_logging,
)
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


@pytest.fixture
def secret() -> Iterator[str]:
    value = "s3cr3t-" + secrets.token_hex(12)
    register_secret(value)
    yield value
    forget_secrets()


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("gateway").level)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    logging.getLogger("gateway").setLevel(saved[2])


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


def test_process_logger_emits_json_lines(root_logging: None) -> None:
    out = io.StringIO()
    setup_logging("DEBUG", json=True, stream=out)
    setup_logging("DEBUG", json=True, stream=out)  # idempotent: still one handler
    logging.getLogger("gateway.auth.jwks").debug("fetched %d keys", 3, extra={"request_id": "req-00000009"})
    logging.getLogger("aiohttp.client").info("library chatter below WARNING is dropped")
    logging.getLogger("aiohttp.client").warning("library warning")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(x["level"], x["logger"], x["message"]) for x in lines] == [
        ("DEBUG", "gateway.auth.jwks", "fetched 3 keys"),
        ("WARNING", "aiohttp.client", "library warning"),
    ]
    assert lines[0]["request_id"] == "req-00000009"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", lines[0]["time"])


def test_process_logger_plain_text_and_level(root_logging: None) -> None:
    out = io.StringIO()
    setup_logging("warning", json=False, stream=out)
    logging.getLogger("gateway.app").info("hidden")
    logging.getLogger("gateway.app").error("shown")
    assert "hidden" not in out.getvalue()
    assert re.search(r"ERROR gateway\.app: shown$", out.getvalue().strip())
    with pytest.raises(ValueError):
        setup_logging("chatty", json=True, stream=out)


@pytest.mark.parametrize("as_json", [True, False])
def test_a_registered_secret_never_reaches_the_process_log(
    secret: str, root_logging: None, as_json: bool
) -> None:
    out = io.StringIO()
    setup_logging("DEBUG", json=as_json, stream=out)
    log = logging.getLogger("gateway.pipeline")
    log.info("principal %s authenticated", secret)  # in args
    log.warning(f"identity {secret} misconfigured")  # in the message itself
    log.info("mapping %(who)s", {"who": secret})  # in mapping args
    log.info("split %s%s", secret[:5], secret[5:])  # only whole after formatting
    try:
        raise ValueError(f"bad key {secret}")
    except ValueError:
        log.exception("signer failed")  # in a traceback
    text = out.getvalue()
    assert secret not in text
    assert text.count("[REDACTED]") == 5
    if as_json:
        assert all(json.loads(line) for line in text.splitlines() if line.startswith("{"))


def test_redacting_filter_works_on_its_own(secret: str) -> None:
    rec = logging.LogRecord("gateway.x", logging.INFO, __file__, 1, "key=%s", (secret,), None)
    assert RedactingFilter().filter(rec) is True
    assert rec.getMessage() == "key=[REDACTED]"
    broken = logging.LogRecord("gateway.x", logging.INFO, __file__, 1, "%s %s " + secret, ("one",), None)
    assert RedactingFilter().filter(broken) is True
    assert secret not in broken.getMessage()


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
