"""Slow, idle and departing clients against a real ``crm-gateway serve``: they cannot hold connections,
slots or queue places that others need."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.sandbox.espocrm import ESPO_CONFIG
from tests.integration.test_server_harness import (
    LEADS,
    GatewaySite,
    base_url,
    serving,
    start_espo,
    wait_received,
)

pytestmark = pytest.mark.timeout(60)


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    return await asyncio.wait_for(reader.read(), seconds)


async def test_connections_over_the_cap_get_a_503_and_are_closed(aiohttp_server: Any, tmp_path: Path) -> None:
    espo = await start_espo(aiohttp_server)
    site = GatewaySite.write(tmp_path, base_url(espo), listen="max_connections: 5")
    async with serving(site.config) as gw:
        await asyncio.sleep(0.2)  # the health probe's connection is gone
        held = [await asyncio.open_connection("127.0.0.1", gw.port) for _ in range(5)]
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        answer = await closed_within(reader, 5)
        assert answer.startswith(b"HTTP/1.1 503 ") and answer.endswith(b"too many connections")
        writer.close()
        for _, w in held:
            w.close()
        await asyncio.sleep(0.2)
        assert await gw.get(LEADS, site.bearer()) == 200
        await gw.wait_metric("crmgw_malformed_requests_total", 1, kind="connection-limit")


async def test_a_request_head_that_trickles_in_is_cut_at_the_header_timeout(
    aiohttp_server: Any, tmp_path: Path
) -> None:
    espo = await start_espo(aiohttp_server)
    site = GatewaySite.write(tmp_path, base_url(espo), listen="header_timeout_seconds: 0.5")
    async with serving(site.config) as gw:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        started = time.monotonic()
        writer.write(b"GET /espo/api/v1/Lead HTTP/1.1\r\nHost: x\r\n")
        for _ in range(3):
            await asyncio.sleep(0.1)
            writer.write(b"X-Slow: 1\r\n")
        assert await closed_within(reader, 5) == b""
        assert time.monotonic() - started < 2.0
        writer.close()
        await gw.wait_metric("crmgw_malformed_requests_total", 1, kind="header-timeout")


async def test_an_idle_keep_alive_connection_is_closed_at_the_keepalive_timeout(
    aiohttp_server: Any, tmp_path: Path
) -> None:
    espo = await start_espo(aiohttp_server)
    site = GatewaySite.write(tmp_path, base_url(espo), listen="keepalive_timeout_seconds: 0.5")
    async with serving(site.config) as gw:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        await closed_within(reader, 5)  # the rest of the answer, then the close
        assert 0.3 < time.monotonic() - started < 2.0
        writer.close()


async def test_abandoned_requests_give_back_their_slots_and_queue_places(
    aiohttp_server: Any, tmp_path: Path
) -> None:
    """A 4 + 8 cap, 12 requests whose clients give up: a fresh request is served, not 503 queue-full."""
    espo = await start_espo(aiohttp_server)
    limits = "    limits: {max_concurrency: 4, queue_size: 8, queue_timeout_seconds: 30}"
    site = GatewaySite.write(tmp_path, base_url(espo), upstream=limits)
    async with serving(site.config) as gw:
        espo.app[ESPO_CONFIG].delay_seconds = 30
        token = site.bearer()["Authorization"]
        request = f"GET {LEADS} HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n\r\n".encode()
        clients = [await asyncio.open_connection("127.0.0.1", gw.port) for _ in range(12)]
        for _, writer in clients:
            writer.write(request)
        await wait_received(espo, 4)
        await gw.wait_metric("crmgw_queued_requests", 8)
        for _, writer in clients:
            writer.close()
        await gw.wait_metric("crmgw_queued_requests", 0)
        await gw.wait_metric("crmgw_inflight_requests", 0)
        espo.app[ESPO_CONFIG].delay_seconds = 0
        assert await gw.get(LEADS, site.bearer()) == 200
        await asyncio.sleep(0.2)
        closed = [r for r in gw.access_records() if r["status"] == 499]
        assert len(closed) == 12 and all(r["reason"] == "client-closed" for r in closed)


async def test_a_client_hanging_up_mid_upload_leaves_a_499_line_and_no_traceback(
    aiohttp_server: Any, tmp_path: Path
) -> None:
    espo = await start_espo(aiohttp_server)
    site = GatewaySite.write(tmp_path, base_url(espo))
    async with serving(site.config) as gw:
        token = site.bearer()["Authorization"]
        head = (
            f"POST /espo/api/v1/Lead HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        )
        _, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(head.encode() + b'{"name": "' + b"x" * 1000)
        await writer.drain()
        await asyncio.sleep(0.3)
        writer.close()
        deadline = time.monotonic() + 5
        while not any(r["status"] == 499 for r in gw.access_records()):
            assert time.monotonic() < deadline, f"no 499 access line: {gw.access}"
            await asyncio.sleep(0.05)
        record = next(r for r in gw.access_records() if r["status"] == 499)
        assert (record["method"], record["reason"]) == ("POST", "client-closed")
        await asyncio.sleep(0.2)
        assert not any("Traceback" in line or '"level":"ERROR"' in line for line in gw.lines), gw.lines
