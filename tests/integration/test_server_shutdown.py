"""SIGTERM on a real ``crm-gateway serve`` process: stop accepting, drain, cut what outlives the grace."""

from __future__ import annotations

import asyncio
import importlib.util
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.sandbox.espocrm import ESPO_CONFIG
from tests.integration.test_server_harness import (
    LEADS,
    GatewaySite,
    base_url,
    connection_refused,
    raw_exchange,
    serving,
    start_espo,
    wait_received,
)

pytestmark = pytest.mark.timeout(60)


async def test_sigterm_lets_slow_requests_finish_refuses_new_ones_and_exits_0(
    aiohttp_server: Any, tmp_path: Path
) -> None:
    grace, delay, slow = 8.0, 2.5, 4
    espo = await start_espo(aiohttp_server)
    site = GatewaySite.write(tmp_path, base_url(espo))
    async with serving(site.config, "--grace-seconds", str(grace)) as gw:
        if importlib.util.find_spec("uvloop") is not None:  # installed: serve runs on it
            await gw.wait_for_log(r"listening on 127\.0\.0\.1:\d+ \(pid \d+, uvloop event loop\)")
        espo.app[ESPO_CONFIG].delay_seconds = delay
        in_flight = [asyncio.create_task(gw.get(LEADS, site.bearer())) for _ in range(slow)]
        await wait_received(espo, slow)

        gw.send(signal.SIGTERM)
        sent_at = time.monotonic()
        refused = False
        while not refused and time.monotonic() - sent_at < 2.0:
            refused = await connection_refused(gw.port)
        assert refused, "the listener still accepts connections after SIGTERM"
        assert not any(task.done() for task in in_flight), "the drain did not wait for the slow requests"

        assert await asyncio.gather(*in_flight) == [200] * slow
        assert await gw.wait_exit(timeout=grace) == 0
        assert time.monotonic() - sent_at < grace
        await gw.wait_for_log(rf"stopping: draining {slow} requests in flight for up to {grace:.1f} s")
        assert not any("were cut" in line for line in gw.lines)


async def test_a_request_outliving_the_grace_period_is_cut_and_the_process_still_exits_0(
    aiohttp_server: Any, tmp_path: Path
) -> None:
    grace = 0.5
    espo = await start_espo(aiohttp_server)
    site = GatewaySite.write(tmp_path, base_url(espo))
    async with serving(site.config, "--grace-seconds", str(grace)) as gw:
        espo.app[ESPO_CONFIG].delay_seconds = 30
        slow = asyncio.create_task(raw_exchange(gw.port, LEADS, site.bearer(), timeout=20))
        await wait_received(espo, 1)

        gw.send(signal.SIGTERM)
        sent_at = time.monotonic()
        # At the end of the grace period the handler is cancelled and its connection closed: the
        # client gets no response at all (no status line), which it can tell apart from an answer.
        assert await slow == b""
        assert await gw.wait_exit(timeout=grace + 5) == 0
        assert time.monotonic() - sent_at < grace + 3.0
        await gw.wait_for_log(r"1 requests were still running after the 0\.5 s grace period and were cut")


@pytest.mark.parametrize("workers", [1, 2])
async def test_the_grace_period_is_counted_once_and_a_drain_ends_within_it(
    aiohttp_server: Any, tmp_path: Path, workers: int
) -> None:
    """SIGTERM to exit takes at most the grace period, however long the requests would run: with
    aiohttp's own shutdown wait on top it took twice as long, and the supervisor SIGKILLed workers."""
    grace = 3.0
    espo = await start_espo(aiohttp_server)
    site = GatewaySite.write(tmp_path, base_url(espo))
    async with serving(site.config, "--grace-seconds", str(grace), "--workers", str(workers)) as gw:
        espo.app[ESPO_CONFIG].delay_seconds = 30
        slow = [
            asyncio.create_task(raw_exchange(gw.port, LEADS, site.bearer(), timeout=20)) for _ in range(4)
        ]
        await wait_received(espo, 4)

        gw.send(signal.SIGTERM)
        sent_at = time.monotonic()
        assert await gw.wait_exit(timeout=grace + 10) == 0
        took = time.monotonic() - sent_at
        assert took <= grace + 0.3, f"stopping took {took:.2f} s with a {grace} s grace period"
        assert await asyncio.gather(*slow) == [b""] * 4
        assert not any("killing it" in line for line in gw.lines)
