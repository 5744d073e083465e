"""The process logger: JSON or plain lines, levels, and registered secrets redacted."""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
from collections.abc import Iterator

import pytest

from gateway.observability.logging import setup_logging
from gateway.observability.redact import RedactingFilter, forget_secrets, register_secret


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
