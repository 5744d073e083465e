"""The decision floor without an HTTP framework (``python -m bench.minimal_decision --kind raw``): a plain
``asyncio.Protocol`` on uvloop, requests parsed by llhttp through ``httptools.HttpRequestParser``, each
answer built from precomputed bytes and sent in one ``transport.write``.

What it does per request is what bench/minimal_decision.py's aiohttp services do, less the framework: take
``Authorization``, ``X-Original-Method`` and ``X-Original-URI``, look the three up in the dict of captured
answers, answer 200 with that answer's headers, a fresh request id and ``Content-Length: 0``, or 401 when
the triple is unknown, whatever the path (as the ``web.Server`` kind: nginx's denial location asks a
sub-path of the endpoint). HTTP/1.1 as nginx's ``auth_request`` needs it: keep-alive
unless the request says otherwise, pipelined requests of one read answered in order, the connection closed
after a ``400`` on anything llhttp refuses (an upgrade included).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import cast

import httptools

from gateway.observability.request_id import generate

_WANTED = {b"authorization": 0, b"x-original-method": 1, b"x-original-uri": 2}
_UNKNOWN = b"HTTP/1.1 401 Unauthorized\r\nCache-Control: no-store\r\nContent-Length: 0\r\n"
_BAD = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_CLOSE = b"Connection: close\r\n"

Key = tuple[str, str, str]
Answers = Mapping[Key, tuple[tuple[str, str], ...]]


class _Date:
    """The ``Date`` and ``Server`` lines aiohttp sends, the date rebuilt once a second."""

    __slots__ = ("line", "second")

    def __init__(self) -> None:
        self.second = -1
        self.line = b""

    def get(self) -> bytes:
        now = int(time.time())
        if now != self.second:
            stamp = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now))
            self.second, self.line = now, f"Date: {stamp}\r\nServer: raw-decision\r\n".encode()
        return self.line


def encoded(answers: Answers, id_headers: tuple[str, str]) -> dict[Key, tuple[bytes, bytes, bytes]]:
    """Each answer as the bytes before the id, between the two id values and after them."""
    out = {}
    for key, headers in answers.items():
        head = b"HTTP/1.1 200 OK\r\n" + b"".join(f"{n}: {v}\r\n".encode("latin-1") for n, v in headers)
        first, second = (name.encode() for name in id_headers)
        out[key] = (head + first + b": ", b"\r\n" + second + b": ", b"\r\nContent-Length: 0\r\n")
    return out


class DecisionProtocol(asyncio.Protocol):
    """One connection: llhttp's callbacks collect the three headers, each complete message is answered."""

    __slots__ = ("answers", "date", "parser", "transport", "values")

    def __init__(self, answers: dict[Key, tuple[bytes, bytes, bytes]], date: _Date) -> None:
        self.answers = answers
        self.date = date
        self.parser = httptools.HttpRequestParser(self)
        self.values = ["", "", ""]
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio.Transport subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:  # HttpParserUpgrade included
            if self.transport is not None:
                self.transport.write(_BAD)
                self.transport.close()
                self.transport = None

    def on_message_begin(self) -> None:
        self.values = ["", "", ""]

    def on_header(self, name: bytes, value: bytes) -> None:
        index = _WANTED.get(name.lower())
        if index is not None and not self.values[index]:
            self.values[index] = value.decode("latin-1")

    def on_message_complete(self) -> None:
        transport = self.transport
        if transport is None:
            return
        v = self.values
        found = self.answers.get((v[0], v[1], v[2]))
        if found is None:
            head = _UNKNOWN
        else:
            request_id = generate().encode()
            head = found[0] + request_id + found[1] + request_id + found[2]
        if self.parser.should_keep_alive():
            transport.write(head + self.date.get() + b"\r\n")
        else:
            transport.write(head + self.date.get() + _CLOSE + b"\r\n")
            transport.close()
            self.transport = None


async def serve_raw(port: int, answers: Answers, id_headers: tuple[str, str], stop: asyncio.Event) -> None:
    """Listen on 127.0.0.1:port until ``stop`` is set."""
    table, date = encoded(answers, id_headers), _Date()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: DecisionProtocol(table, date), "127.0.0.1", port, backlog=1024)
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
