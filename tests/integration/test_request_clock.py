"""A request's durations come from the runtime's injected monotonic clock (gateway/clock.py), never from the
event loop's or the wall clock: with a clock that moves exactly one second per reading, every duration the
access line and the metrics report is a whole number of seconds, which no real clock would give."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import Stack, metric_samples, start_stack


class TickingClock:
    """One second later at every reading."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


async def test_request_and_upstream_durations_run_on_the_injected_clock(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = TickingClock()
    stack = await start_stack(aiohttp_server, aiohttp_client, tmp_path, monotonic=clock)
    capsys.readouterr()
    resp = await stack.client.get("/espo-key/api/v1/Account", headers=stack.bearer())
    assert resp.status == 200
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    [line] = [line for line in lines if line.get("upstream") == "espo-key"]
    assert line["duration_ms"] >= 3000 and line["duration_ms"] % 1000 == 0
    assert line["upstream_ms"] >= 1000 and line["upstream_ms"] % 1000 == 0
    assert line["upstream_ms"] < line["duration_ms"]
    assert seconds_observed(stack, "crmgw_request_duration_seconds_sum") == line["duration_ms"] / 1000
    assert seconds_observed(stack, "crmgw_upstream_duration_seconds_sum") == line["upstream_ms"] / 1000


def seconds_observed(stack: Stack, name: str) -> float:
    samples = metric_samples(stack.metrics_text(), name)
    return sum(value for labels, value in samples.items() if ("upstream", "espo-key") in labels)
