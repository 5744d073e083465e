"""Client credentials never reach a log line, whoever logs them: bearer tokens, JWT-shaped strings, the
values of credential parameters and headers, in messages and in traceback text."""

from __future__ import annotations

import io
import json
import logging
import random
from collections.abc import Iterator

import pytest

from gateway.observability.logging import setup_logging
from gateway.observability.redact import (
    REDACTED,
    SECRETS,
    RedactingFilter,
    forget_secrets,
    register_secret,
    scrub,
)

JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJzdmMifQ.c2lnbmF0dXJl"
JWE = "eyJhbGciOiJSU0EtT0FFUCJ9.a2V5.aXY.Y2lwaGVy.dGFn"

CASES = [
    (f"GET /x?api_key={JWT}&entity=Contact HTTP/1.1", "api_key=[REDACTED]&entity=Contact"),
    ("GET /x?_authx=Bearer+opaque-token-1234 HTTP/1.1", "_authx=[REDACTED] "),
    ("rest.php?key=site-key-1234&api_key=user-key-5678", "key=[REDACTED]&api_key=[REDACTED]"),
    ("params[api_key]=user-key-5678", "params[api_key]=[REDACTED]"),
    (f"b'Host: x\\nX-Api-Key: {JWT}'", "X-Api-Key: [REDACTED]'"),
    ("X.Civi.Auth: Bearer opaque-token-1234", "X.Civi.Auth: [REDACTED]"),
    ("x_api_key: plain-key-value", "x_api_key: [REDACTED]"),
    ("Espo-Authorization: dXNlcjpwYXNz", "Espo-Authorization: [REDACTED]"),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: [REDACTED]"),
    ("sent Bearer opaque-token-1234 to", "Bearer [REDACTED] to"),
    (f"token {JWT} in a sentence", f"token {REDACTED} in a sentence"),
    (f"jwe {JWE}.", f"jwe {REDACTED}."),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_scrub_removes_credentials(text: str, expected: str) -> None:
    clean = scrub(text)
    assert expected in clean
    for secret in ("opaque-token-1234", "user-key-5678", "site-key-1234", "plain-key-value", "dXNlcjpw"):
        assert secret not in clean
    assert "eyJ" not in clean


@pytest.mark.parametrize(
    "text",
    ["no bearer token in the request", "monkey=1 tokenizer=2", "GET /civicrm/ajax/api4/Contact/get 200"],
)
def test_scrub_leaves_ordinary_text_alone(text: str) -> None:
    assert scrub(text) == text


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("gateway").level)
    out = io.StringIO()
    setup_logging("INFO", json=True, stream=out)
    yield out
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    logging.getLogger("gateway").setLevel(saved[2])


@pytest.mark.parametrize(
    "logger", ["aiohttp.server", "aiohttp.access", "aiohttp.web", "asyncio", "gateway.x"]
)
def test_every_logger_message_and_traceback_is_redacted(json_log: io.StringIO, logger: str) -> None:
    try:
        raise ValueError(f"Invalid char in url path: b'GET /?api_key={JWT} HTTP/1.1'")
    except ValueError as exc:
        logging.getLogger(logger).error(
            "Error handling request %s", f"Authorization: Bearer {JWT}", exc_info=exc
        )
    line = json.loads(json_log.getvalue().splitlines()[-1])
    assert "eyJ" not in json_log.getvalue()
    assert line["message"] == "Error handling request Authorization: [REDACTED]"
    assert "api_key=[REDACTED]" in line["exc"]


def test_a_filter_on_any_handler_redacts_its_text_output() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactingFilter())
    log = logging.getLogger("test.redact.plain")
    log.addHandler(handler)
    try:
        try:
            raise RuntimeError(f"X-Civi-Auth: Bearer {JWT}")
        except RuntimeError:
            log.exception("failed with key=%s", "site-key-1234")
    finally:
        log.removeHandler(handler)
    text = out.getvalue()
    assert "site-key-1234" not in text and "eyJ" not in text
    assert "key=[REDACTED]" in text and "X-Civi-Auth: [REDACTED]" in text


@pytest.mark.parametrize("count", [0, 1, 5, 20, 40])
def test_in_json_finds_exactly_what_the_json_pattern_finds(count: int) -> None:
    forget_secrets()
    rng = random.Random(count)
    values = [
        f'k{n}-"quoted"-\\back\u00e9-{rng.getrandbits(64):x}'
        if n % 3 == 0
        else f"secret-{n}-{rng.getrandbits(64):x}"
        for n in range(count)
    ]
    for value in values:
        register_secret(value)
    texts = ["", "nothing here", '{"a":"b"}']
    for value in values:
        escaped = json.dumps(value)[1:-1]
        texts += [f'{{"x":"{escaped}"}}', f"pre {value} post", value[:-1], escaped[1:]]
    try:
        for text in texts:
            pattern = SECRETS.json_pattern
            assert SECRETS.in_json(text) == (pattern is not None and pattern.search(text) is not None), text
    finally:
        forget_secrets()
