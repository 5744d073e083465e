"""A gateway process in front of a scripted upstream (real sockets): what the client sees when the upstream
answers in a shape the lean client must refuse, closes mid-answer before or after the gateway sent the
headers, keeps or closes its connections, or sends more than a slow client reads."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.integration.test_server_harness import LEADS, GatewaySite, serving
from tests.support.raw_upstream import Seen, raw_upstream

pytestmark = pytest.mark.timeout(60)

BIG = 64 * 1024 * 1024


async def raw_get(port: int, headers: dict[str, str]) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(f"GET {LEADS} HTTP/1.1\r\nHost: 127.0.0.1\r\n{lines}\r\n".encode())
    await writer.drain()
    return reader, writer


async def test_an_answer_cut_before_the_gateway_answers_is_a_502_in_dialect(tmp_path: Path) -> None:
    async def cut(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(
            b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"list":'
        )
        return False

    async with raw_upstream(cut) as up:
        site = GatewaySite.write(tmp_path, up.origin)
        async with serving(site.config) as gw:
            status, body = await gw.request("GET", LEADS, site.bearer())
            assert status == 502
            assert json.loads(body)["reason"] == "upstream-unavailable"


async def test_a_malformed_answer_head_is_a_502_never_passed_through(tmp_path: Path) -> None:
    async def bad(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nX-Injected\r\nContent-Length: 2\r\n\r\nok")
        return False

    async with raw_upstream(bad) as up:
        site = GatewaySite.write(tmp_path, up.origin)
        async with serving(site.config) as gw:
            status, body = await gw.request("GET", LEADS, site.bearer())
            assert status == 502 and b"X-Injected" not in body


async def test_a_streamed_answer_cut_after_the_headers_cuts_the_client_connection(tmp_path: Path) -> None:
    length = 1024 * 1024

    async def cut(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: %d\r\n\r\n" % length)
        writer.write(b"a" * (length // 2))
        await writer.drain()
        return False

    async with raw_upstream(cut) as up:
        site = GatewaySite.write(tmp_path, up.origin)
        async with serving(site.config) as gw:
            reader, writer = await raw_get(gw.port, site.bearer())
            answer = await asyncio.wait_for(reader.read(), 10)  # to the end: the gateway closes
            writer.close()
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 ")
            assert len(body) < length  # a broken body the client can tell, never a short complete one


@pytest.mark.parametrize(("keep", "connections"), [(True, 1), (False, 3)])
async def test_upstream_connections_are_reused_only_when_the_upstream_keeps_them(
    tmp_path: Path, keep: bool, connections: int
) -> None:
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        close = b"" if keep else b"Connection: close\r\n"
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n%bContent-Length: 11\r\n\r\n" % close
        )
        writer.write(b'{"list":[]}')
        return keep

    async with raw_upstream(answer) as up:
        site = GatewaySite.write(tmp_path, up.origin)
        async with serving(site.config) as gw:
            for _ in range(3):
                assert await gw.get(LEADS, site.bearer()) == 200
            assert len(up.seen) == 3 and up.connections == connections


async def test_a_slow_client_holds_the_upstream_back_and_then_gets_every_byte(tmp_path: Path) -> None:
    written = 0

    async def big(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        nonlocal written
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: %d\r\n\r\n" % BIG)
        piece = b"z" * 65536
        for _ in range(BIG // len(piece)):
            writer.write(piece)
            await writer.drain()
            written += len(piece)
        return False

    async with raw_upstream(big) as up:
        site = GatewaySite.write(tmp_path, up.origin)
        async with serving(site.config) as gw:
            reader, writer = await raw_get(gw.port, site.bearer())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 200 ")
            await asyncio.sleep(1.5)  # the client reads nothing
            held = written
            assert held < BIG // 2, held  # socket buffers and the gateway's bounded buffer, not the answer
            got = 0
            while chunk := await asyncio.wait_for(reader.read(1 << 20), 10):
                got += len(chunk)
                if b"0\r\n\r\n" in chunk[-5:]:
                    break
            writer.close()
            assert got > BIG  # every byte, in chunks (chunked framing around them)
