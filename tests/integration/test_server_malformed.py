"""Requests aiohttp cannot parse, sent to a real ``crm-gateway serve``: a fixed 400 that echoes nothing,
no token and no traceback in the log, a metric per kind, and a bounded number of log lines."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from gateway.protocol import BAD_REQUEST_BODY, LOG_LINES
from tests.integration.test_server_harness import GatewaySite, base_url, serving, start_espo

pytestmark = pytest.mark.timeout(60)

TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzdmMtdGVzdCJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"

LEADS_HEAD = "GET /espo/api/v1/Lead HTTP/1.1\r\nHost: x\r\n"
MALFORMED = [
    # a bare LF after a header, the token in api_key=
    ("bad-header", f"GET /espo/api/v1/Lead?api_key={TOKEN} HTTP/1.1\r\nHost: x\nFoo: bar\r\n\r\n".encode()),
    # a raw non-ASCII byte in the path, the token in _authx=
    ("bad-request-line", f"GET /espo/\xff?_authx={TOKEN} HTTP/1.1\r\nHost: x\r\n\r\n".encode("latin-1")),
    # an obs-fold after the credential header
    ("bad-header", f"{LEADS_HEAD}X-Api-Key: {TOKEN}\r\n folded\r\n\r\n".encode()),
    ("bad-header", f"{LEADS_HEAD}Authorization: Bearer {TOKEN}\r\nBad Name: 1\r\n\r\n".encode()),
    ("missing-host", f"GET /espo/api/v1/Lead?key={TOKEN} HTTP/1.1\r\n\r\n".encode()),
    ("too-large", f"GET /espo/{'a' * 9000}?api_key={TOKEN} HTTP/1.1\r\nHost: x\r\n\r\n".encode()),
    ("bad-method", f"G(T /?api_key={TOKEN} HTTP/1.1\r\nHost: x\r\n\r\n".encode()),
]  # fmt: skip


async def raw(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


@pytest.fixture
async def site(aiohttp_server: Any, tmp_path: Path) -> GatewaySite:
    espo = await start_espo(aiohttp_server)
    return GatewaySite.write(tmp_path, base_url(espo))


async def test_a_malformed_request_gets_a_fixed_400_and_leaves_no_token_or_traceback(
    site: GatewaySite,
) -> None:
    async with serving(site.config) as gw:
        for kind, data in MALFORMED:
            before = await gw.metric("crmgw_malformed_requests_total", kind=kind)
            answer = await raw(gw.port, data)
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.0 400") or head.startswith(b"HTTP/1.1 400"), answer
            assert body.decode() == BAD_REQUEST_BODY, answer
            assert TOKEN.encode() not in answer
            await gw.wait_metric("crmgw_malformed_requests_total", before + 1, kind=kind)
        await asyncio.sleep(0.2)
        text = "\n".join(gw.lines)
        assert TOKEN not in text
        assert TOKEN.split(".")[1] not in text
        assert "Traceback" not in text
        assert sum("refused a request" in line for line in gw.lines) == min(len(MALFORMED), LOG_LINES)


async def test_a_flood_of_requests_without_host_writes_a_bounded_number_of_log_lines(
    site: GatewaySite,
) -> None:
    """The field case: 173 MB of stderr in 90 s. Here 300 requests, 30 connections of 10 pipelined."""
    async with serving(site.config) as gw:
        logged_before = len(gw.lines)
        request = f"GET /espo/api/v1/Lead?api_key={TOKEN} HTTP/1.1\r\n\r\n".encode()
        answers = await asyncio.gather(*(raw(gw.port, request * 10) for _ in range(30)))
        assert all(answer.startswith(b"HTTP/1.") and b" 400 " in answer[:20] for answer in answers)
        await gw.wait_metric("crmgw_malformed_requests_total", 30, kind="missing-host")
        flood = gw.lines[logged_before:]
        assert len(flood) <= LOG_LINES
        assert sum(len(line) for line in flood) < 2000
        assert TOKEN not in "\n".join(gw.lines)
