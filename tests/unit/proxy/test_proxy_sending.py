"""The lean upstream client's timing and connection handling against real sockets: timeouts, refused
connections, the one retry on a keep-alive connection the upstream dropped, the connection limit, idle
expiry, flow control for a slow reader, streamed request bodies and closing the pool."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from multidict import CIMultiDict

from gateway.errors import BadGateway, GatewayTimeout, PayloadTooLarge
from gateway.proxy import pool as pool_module
from gateway.proxy.answer_state import HIGH_WATER
from gateway.proxy.pool import Pool
from gateway.proxy.request_head import request_head
from gateway.proxy.sending import send
from tests.support.raw_upstream import Seen, config_for, ok, raw_upstream

pytestmark = pytest.mark.timeout(20)


def head(method: str = "GET", body: bytes | None = None, *, chunked: bool = False) -> bytes:
    length = None if body is None else len(body)
    return request_head(method, "/x", "upstream", CIMultiDict(), length, chunked=chunked) + (body or b"")


async def fetch(pool: Pool, method: str = "GET", body: bytes | None = None) -> bytes:
    conn = await send(pool, method, head(method, body), None)
    try:
        return await conn.read_all()
    finally:
        pool.release(conn)


def stall(after: bytes = b"") -> object:
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(after)
        await writer.drain()
        await asyncio.sleep(5)
        return False

    return answer


@pytest.mark.parametrize(
    ("what", "sent"),
    [("no head", b""), ("head then no body", b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhal")],
)
async def test_a_stall_past_the_read_timeout_is_a_timeout(what: str, sent: bytes) -> None:
    async with raw_upstream(stall(sent)) as up:  # type: ignore[arg-type]
        pool = Pool(config_for(up.origin, read=0.2, total=10))
        started = asyncio.get_running_loop().time()
        with pytest.raises((GatewayTimeout, TimeoutError)):
            await fetch(pool)
        assert 0.15 < asyncio.get_running_loop().time() - started < 2
        await pool.close()


async def test_a_stall_on_a_reused_connection_is_a_timeout_too() -> None:
    async def second_stalls(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        if len(up.seen) == 1:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            return True
        await asyncio.sleep(5)
        return False

    async with raw_upstream(second_stalls) as up:
        pool = Pool(config_for(up.origin, read=0.3, total=10))
        assert await fetch(pool) == b"ok"
        await asyncio.sleep(0.2)  # the first request's timer is still armed: it must serve the second
        started = asyncio.get_running_loop().time()
        with pytest.raises((GatewayTimeout, TimeoutError)):
            await fetch(pool)
        assert 0.25 < asyncio.get_running_loop().time() - started < 2
        assert up.connections == 1
        await pool.close()


async def test_the_total_timeout_holds_although_data_keeps_arriving() -> None:
    async def trickle(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(100):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.05)
        return False

    async with raw_upstream(trickle) as up:
        pool = Pool(config_for(up.origin, read=0.2, total=0.5))
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):
            await fetch(pool)
        assert 0.4 < asyncio.get_running_loop().time() - started < 2
        await pool.close()


async def test_a_refused_connection_is_bad_gateway() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        pool = Pool(config_for(f"http://127.0.0.1:{port}"))
        with pytest.raises(BadGateway, match="could not be reached"):
            await fetch(pool)
        await pool.close()


@pytest.mark.parametrize(("method", "retried"), [("GET", True), ("DELETE", True), ("POST", False)])
async def test_a_reused_connection_that_dies_unanswered_is_retried_once_for_idempotent_methods(
    method: str, retried: bool
) -> None:
    per_connection: dict[int, int] = {}

    async def second_dies(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        per_connection[seen.connection] = per_connection.get(seen.connection, 0) + 1
        if per_connection[seen.connection] == 2:
            writer.transport.abort()  # kept alive, then dropped: the race with a closing idle connection
            return False
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        return True

    async with raw_upstream(second_dies) as up:
        pool = Pool(config_for(up.origin))
        assert await fetch(pool) == b"ok"
        if retried:
            assert await fetch(pool, method, b"data") == b"ok"
            assert [s.connection for s in up.seen] == [1, 1, 2]
        else:
            with pytest.raises(BadGateway, match="closed the connection"):
                await fetch(pool, method, b"data")
            assert [s.connection for s in up.seen] == [1, 1]  # sent once, never twice
        await pool.close()


async def test_a_new_connection_that_dies_unanswered_is_not_retried() -> None:
    async def dies(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.transport.abort()
        return False

    async with raw_upstream(dies) as up:
        pool = Pool(config_for(up.origin))
        with pytest.raises(BadGateway):
            await fetch(pool)
        assert len(up.seen) == 1
        await pool.close()


async def test_an_idle_connection_known_closed_is_skipped() -> None:
    async def once(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        return False  # closed after the answer, without saying so

    async with raw_upstream(once) as up:
        pool = Pool(config_for(up.origin))
        assert await fetch(pool) == b"ok"
        await asyncio.sleep(0.05)  # the close arrived
        assert await fetch(pool, "POST", b"data") == b"ok"
        assert [s.connection for s in up.seen] == [1, 2]
        await pool.close()


async def test_max_connections_bounds_the_open_connections() -> None:
    async def slow(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.05)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        return True

    async with raw_upstream(slow) as up:
        pool = Pool(config_for(up.origin, max_connections=2))
        assert await asyncio.gather(*(fetch(pool) for _ in range(8))) == [b"ok"] * 8
        assert up.most_open == 2 and up.connections == 2
        await pool.close()


async def test_waiting_for_a_connection_counts_against_the_total_timeout() -> None:
    async with raw_upstream(stall()) as up:  # type: ignore[arg-type]
        pool = Pool(config_for(up.origin, max_connections=1, read=5, total=0.3))
        results = await asyncio.gather(fetch(pool), fetch(pool), return_exceptions=True)
        assert all(isinstance(r, (TimeoutError, GatewayTimeout)) for r in results), results
        await pool.close()


async def test_idle_connections_expire_and_close_closes_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool_module, "KEEPALIVE", 0.1)
    async with raw_upstream(ok()) as up:
        pool = Pool(config_for(up.origin))
        await fetch(pool)
        await fetch(pool)
        assert up.connections == 1
        await asyncio.sleep(0.3)
        assert up.open_now == 0  # the sweep closed it
        await fetch(pool)
        assert up.connections == 2
        await pool.close()
        await asyncio.sleep(0.05)
        assert up.open_now == 0
        with pytest.raises(BadGateway):
            await fetch(pool)


async def test_closing_the_pool_cuts_a_request_still_in_flight() -> None:
    async with raw_upstream(stall()) as up:  # type: ignore[arg-type]
        pool = Pool(config_for(up.origin))
        slow = asyncio.create_task(fetch(pool))
        while not up.seen:
            await asyncio.sleep(0.01)
        await pool.close()
        with pytest.raises(BadGateway, match="closed the connection"):
            await slow


async def test_a_slow_reader_pauses_the_upstream_and_memory_stays_bounded() -> None:
    size = 8 * 1024 * 1024

    async def big(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        for _ in range(size // 65536):
            writer.write(b"y" * 65536)
            await writer.drain()
        return True

    async with raw_upstream(big) as up:
        pool = Pool(config_for(up.origin, read=0.3))
        conn = await send(pool, "GET", head(), None)
        await asyncio.sleep(0.6)  # a paused read is not a read timeout
        got = 0
        while chunk := await conn.read_chunk():
            assert len(chunk) <= HIGH_WATER + 512 * 1024
            got += len(chunk)
            await asyncio.sleep(0)
        assert got == size
        pool.release(conn)
        assert await fetch(pool) != b""
        assert up.connections == 1
        await pool.close()


async def test_a_streamed_body_is_sent_chunked_and_its_limit_refuses_it() -> None:
    async def body(parts: list[bytes]) -> AsyncIterator[bytes]:
        for part in parts:
            yield part
        if not parts:
            raise PayloadTooLarge("request body is too large")

    async with raw_upstream(ok(b"done")) as up:
        pool = Pool(config_for(up.origin))
        conn = await send(pool, "POST", head("POST", chunked=True), body([b"ab", b"", b"cd"]))
        assert await conn.read_all() == b"done"
        pool.release(conn)
        assert up.seen[0].body == b"abcd"
        assert b"Transfer-Encoding: chunked\r\n" in up.seen[0].head
        with pytest.raises(PayloadTooLarge):
            await send(pool, "POST", head("POST", chunked=True), body([]))
        await pool.close()
