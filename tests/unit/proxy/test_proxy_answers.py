"""The lean upstream client against a real socket: every answer shape it must read, and each broken one
it must refuse (gateway/proxy/connection.py, pool.py, sending.py)."""

from __future__ import annotations

import asyncio

import pytest
from multidict import CIMultiDict

from gateway.answers.errors import AnswerBroken
from gateway.errors import BadGateway
from gateway.proxy.pool import Pool
from gateway.proxy.request_head import request_head
from gateway.proxy.sending import send
from tests.support.raw_upstream import Seen, config_for, raw_upstream

pytestmark = pytest.mark.timeout(20)


def get(method: str = "GET", body: bytes | None = None) -> bytes:
    head = request_head(method, "/x", "upstream", CIMultiDict(), None if body is None else len(body))
    return head + (body or b"")


async def fetch(pool: Pool, method: str = "GET", body: bytes | None = None) -> tuple[int, str, bytes]:
    conn = await send(pool, method, get(method, body), None)
    try:
        return conn.status, conn.headers.get("X-Shape", ""), await conn.read_all()
    finally:
        pool.release(conn)


def make_pool(origin: str, **kw: float) -> Pool:
    return Pool(config_for(origin, **kw))  # type: ignore[arg-type]


SHAPES = [
    ("content-length", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, b"hello", True),
    (
        "chunked",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n",
        200,
        b"hello",
        True,
    ),
    ("close-delimited", b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello", 200, b"hello", False),
    ("http/1.0", b"HTTP/1.0 200 OK\r\n\r\nhello", 200, b"hello", False),
    ("no-content", b"HTTP/1.1 204 No Content\r\n\r\n", 204, b"", True),
    ("not-modified", b"HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n", 304, b"", True),
    (
        "interim",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        200,
        b"ok",
        True,
    ),
    (
        "connection-close",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
        200,
        b"ok",
        False,
    ),
]


@pytest.mark.parametrize(("name", "raw", "status", "body", "reused"), SHAPES, ids=[s[0] for s in SHAPES])
async def test_each_answer_shape_is_read_and_the_connection_kept_only_when_it_may_be(
    name: str, raw: bytes, status: int, body: bytes, reused: bool
) -> None:
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(raw)
        return reused

    async with raw_upstream(answer) as up:
        pool = make_pool(up.origin)
        for _ in range(2):
            assert (await fetch(pool))[0::2] == (status, body)
        assert up.connections == (1 if reused else 2)
        await pool.close()


async def test_head_answer_has_no_body_and_the_connection_is_reused() -> None:
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        if seen.head.startswith(b"HEAD"):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nget")
        return True

    async with raw_upstream(answer) as up:
        pool = make_pool(up.origin)
        assert (await fetch(pool, "HEAD"))[0::2] == (200, b"")
        assert (await fetch(pool, "GET"))[0::2] == (200, b"get")
        assert (await fetch(pool, "HEAD"))[0::2] == (200, b"")
        assert up.connections == 1
        await pool.close()


BROKEN = [
    ("malformed status line", b"HTTP/1.1 2x0 OK\r\n\r\n"),
    ("malformed header", b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n"),
    ("header too long", b"HTTP/1.1 200 OK\r\nX: " + b"a" * 9000 + b"\r\n\r\n"),
    ("too many headers", b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 200 + b"\r\n"),
    ("head too large", b"HTTP/1.1 200 OK\r\n" + b"X: " + b"a" * 8000 + b"\r\n" * 1 + b"Y: " * 20000),
    ("switching protocols", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n"),
    ("closed mid-headers", b"HTTP/1.1 200 OK\r\nContent-Le"),
    (
        "length and chunked",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ),
]


@pytest.mark.parametrize(("name", "raw"), BROKEN, ids=[b[0] for b in BROKEN])
async def test_a_head_it_cannot_read_is_bad_gateway(name: str, raw: bytes) -> None:
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(raw)
        return False

    async with raw_upstream(answer) as up:
        pool = make_pool(up.origin)
        with pytest.raises(BadGateway):
            await fetch(pool, "POST", b"x")  # not retried: POST
        assert len(up.seen) == 1
        await pool.close()


BROKEN_BODIES = [
    ("closed mid-body", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"),
    ("bad chunk size", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
    ("chunked cut short", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"),
]


@pytest.mark.parametrize(("name", "raw"), BROKEN_BODIES, ids=[b[0] for b in BROKEN_BODIES])
async def test_a_body_it_cannot_read_to_its_end_raises_answer_broken(name: str, raw: bytes) -> None:
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        head, body = raw.split(b"\r\n\r\n", 1)
        writer.write(head + b"\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)  # the head is read first: the fault is in the body
        writer.write(body)
        return False

    async with raw_upstream(answer) as up:
        pool = make_pool(up.origin)
        conn = await send(pool, "GET", get(), None)
        with pytest.raises(AnswerBroken):
            while await conn.read_chunk():
                pass
        pool.release(conn)
        assert conn.closed
        await pool.close()


async def test_data_after_the_answer_closes_the_connection() -> None:
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        )
        return True

    async with raw_upstream(answer) as up:
        pool = make_pool(up.origin)
        assert (await fetch(pool))[0::2] == (200, b"ok")
        assert (await fetch(pool))[0::2] == (200, b"ok")
        assert up.connections == 2  # never a desynchronised reuse
        await pool.close()
