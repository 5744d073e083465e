"""Access lines are written once per event-loop turn, in order, and never lost: a close flushes them."""

from __future__ import annotations

import asyncio
import io
import json

import pytest

from gateway.app import build_runtime
from gateway.config.loader import load_config_text
from gateway.observability.access_log import AccessLogger, AccessRecord, render_access_line
from gateway.observability.metrics import GatewayMetrics


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, s: str) -> int:
        self.writes.append(s)
        return super().write(s)


class BrokenStream(io.StringIO):
    def write(self, s: str) -> int:
        raise OSError("disk full")


def record(request_id: str) -> AccessRecord:
    return AccessRecord(request_id, "GET", "/api/v1/Lead", 200, 1.5, "allow", time="2024-05-01T12:00:00.000Z")


def ids(text: str) -> list[str]:
    return [json.loads(line)["request_id"] for line in text.splitlines()]


async def test_the_lines_of_one_turn_go_out_in_one_write_at_its_end() -> None:
    out = CountingStream()
    logger = AccessLogger(out)
    for n in range(3):
        logger.log(record(f"turn-one-{n}"))
    assert out.writes == []
    await asyncio.sleep(0)
    assert len(out.writes) == 1
    assert ids(out.getvalue()) == ["turn-one-0", "turn-one-1", "turn-one-2"]
    logger.log(record("turn-two-0"))
    await asyncio.sleep(0)
    assert len(out.writes) == 2
    assert ids(out.getvalue())[-1] == "turn-two-0"
    assert out.getvalue().endswith("}\n") and "\n\n" not in out.getvalue()


async def test_flush_writes_what_is_pending_and_the_scheduled_flush_adds_nothing() -> None:
    out = CountingStream()
    logger = AccessLogger(out)
    logger.log(record("pending-0"))
    logger.log(record("pending-1"))
    logger.flush()
    assert ids(out.getvalue()) == ["pending-0", "pending-1"]
    await asyncio.sleep(0)
    assert len(out.writes) == 1
    logger.log(record("after-0"))  # a flush by hand leaves the logger batching as before
    await asyncio.sleep(0)
    assert ids(out.getvalue()) == ["pending-0", "pending-1", "after-0"]


async def test_a_failed_batch_counts_each_of_its_lines() -> None:
    counted: list[int] = []
    logger = AccessLogger(BrokenStream(), on_error=lambda: counted.append(1))
    for n in range(3):
        logger.log(record(f"lost-{n}"))
    await asyncio.sleep(0)
    assert logger.failures == 3 and counted == [1, 1, 1]


CONFIG = """\
identity:
  issuers:
    - issuer: https://idp.test
      audiences: [crm-gateway]
      algorithms: [HS256]
      hs256_secrets: [a-test-secret-that-is-long-enough-0123456789]
upstreams:
  espo:
    dialect: espocrm
    url: http://127.0.0.1:9
    match: {path_prefix: /espo}
    auth: {scheme: espo-apikey}
observability: {access_log: true}
"""


async def test_closing_the_runtime_writes_the_lines_of_its_last_turn(
    capsys: pytest.CaptureFixture[str],
) -> None:
    runtime = await build_runtime(load_config_text(CONFIG, "gateway.yaml"), GatewayMetrics())
    runtime.access_log.log(record("last-before-shutdown"))
    assert capsys.readouterr().out == ""
    await runtime.close()  # no loop turn between the line and the close
    assert ids(capsys.readouterr().out) == ["last-before-shutdown"]


async def test_a_line_is_rendered_at_the_end_of_its_turn_and_one_that_fails_is_counted() -> None:
    out = CountingStream()
    counted: list[int] = []
    logger = AccessLogger(out, on_error=lambda: counted.append(1))
    rendered: list[str] = []

    def render(request_id: str) -> str:
        rendered.append(request_id)
        return render_access_line(record(request_id))

    def broken() -> str:
        raise ValueError("cannot render")

    logger.log_rendered(lambda: render("first"))
    logger.log_rendered(broken)
    logger.log_rendered(lambda: render("third"))
    assert rendered == [] and out.writes == []
    await asyncio.sleep(0)
    assert rendered == ["first", "third"]
    assert len(out.writes) == 1 and ids(out.getvalue()) == ["first", "third"]
    assert logger.failures == 1 and counted == [1]
