"""A scripted HTTP/1.1 upstream on a real socket: each request it reads (head and body, as framed) is
recorded with the number of the connection it came on, and answered by a test's ``answer`` coroutine,
which writes raw bytes (any shape, broken ones included) and says whether to keep the connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from gateway.config.model import Timeouts, UpstreamConfig


@dataclass
class Seen:
    connection: int
    head: bytes
    body: bytes


Answer = Callable[[Seen, asyncio.StreamWriter], Awaitable[bool]]
"""Writes the answer to one request; True keeps the connection open for the next request."""


@dataclass
class RawUpstream:
    answer: Answer
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    open_now: int = 0
    most_open: int = 0

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                body = await _read_body(reader, head)
                seen = Seen(number, head, body)
                self.seen.append(seen)
                if not await self.answer(seen, writer):
                    return
                await writer.drain()
        except (asyncio.CancelledError, ConnectionError):
            return  # the test is over, or the client went away
        finally:
            self.open_now -= 1
            writer.close()


async def _read_body(reader: asyncio.StreamReader, head: bytes) -> bytes:
    lower = head.lower()
    if b"\r\ntransfer-encoding: chunked" in lower:
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return body
            body += chunk[:-2]
    for line in lower.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return await reader.readexactly(int(line.split(b":", 1)[1]))
    return b""


@contextlib.asynccontextmanager
async def raw_upstream(answer: Answer) -> AsyncIterator[RawUpstream]:
    upstream = RawUpstream(answer)
    server = await asyncio.start_server(upstream._serve, "127.0.0.1", 0)
    upstream.port = server.sockets[0].getsockname()[1]
    try:
        yield upstream
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1)


def config_for(
    origin: str, *, read: float = 5.0, total: float = 10.0, connect: float = 2.0, max_connections: int = 10
) -> UpstreamConfig:
    return UpstreamConfig(
        name="raw",
        dialect_name="espocrm",
        origin=origin,
        base_path="",
        path_prefix=None,
        hosts=(),
        scheme="espo-api-key",
        timeouts=Timeouts(connect=connect, read=read, total=total),
        max_connections=max_connections,
    )


def ok(body: bytes = b"hello", *, extra: bytes = b"", keep: bool = True) -> Answer:
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%b\r\n%b" % (len(body), extra, body))
        return keep

    return answer
