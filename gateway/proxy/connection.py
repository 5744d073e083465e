"""One keep-alive HTTP/1.1 connection to an upstream: the request written in one ``transport.write``, the
answer parsed by llhttp (httptools), one timer per request for the read and total timeouts.

Anything the parser cannot fully read (a malformed status line or header, headers over the limits, bad
chunking, a connection closed before the answer's end) is an ``AnswerBroken``; a timeout a
``TimeoutError``. Either closes the connection."""

from __future__ import annotations

import asyncio
from typing import cast

import httptools

from gateway.answers.errors import AnswerBroken
from gateway.proxy.answer_state import AnswerState

MAX_HEAD_BYTES = 128 * 1024
"""The most bytes an answer's status line and headers may take."""


class Connection(AnswerState, asyncio.Protocol):
    __slots__ = (
        "_closed",
        "_deadline",
        "_last_read",
        "_loop",
        "_read_timeout",
        "_reading",
        "_timer",
        "_waiter",
        "_write_waiter",
        "busy",
        "reused",
        "transport",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._write_waiter: asyncio.Future[None] | None = None
        self._closed = False
        self.busy = False
        self.reused = False
        self._reading = False

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def reusable(self) -> bool:
        return self._complete and self.keep_alive and not self._closed and self._error is None

    def start(self, method: str, deadline: float, read_timeout: float, *, reading: bool) -> None:
        """Prepare for one answer; the caller then writes the request. The total timeout runs from now, the
        read timeout (between reads) once ``reading`` (a streamed request body calls ``begin_reading``
        when it is sent)."""
        self.method = method
        self._reset(method == "HEAD")
        if self._parser is None:
            self._parser = httptools.HttpResponseParser(self)
        self.busy = True
        self._deadline, self._read_timeout = deadline, read_timeout
        self._reading = reading
        self._last_read = now = self._loop.time()
        self._arm(min(deadline, now + read_timeout) if reading else deadline)

    def begin_reading(self) -> None:
        self._reading = True
        self._last_read = now = self._loop.time()
        self._arm(now + self._read_timeout)

    def _arm(self, due: float) -> None:
        """The connection's one timer fires at ``due`` or earlier (then it looks again): a timer armed by
        an earlier request is kept, so a busy keep-alive connection re-arms about once a read timeout."""
        timer = self._timer
        if timer is not None:
            if timer.when() <= due:
                return
            timer.cancel()
        self._timer = self._loop.call_at(due, self._on_timer)

    def write(self, data: bytes) -> None:
        if self._closed:
            raise AnswerBroken("the CRM closed the connection")
        assert self.transport is not None
        self.transport.write(data)

    async def drain(self) -> None:
        """Wait while the transport's buffer is full (or until the connection closes)."""
        if self._write_waiter is not None:
            await self._write_waiter

    async def head(self) -> None:
        """Wait for the answer's status line and headers (``status``, ``reason``, ``headers``)."""
        while not self._head_done:
            await self._wait()

    async def read_chunk(self) -> bytes:
        """The next piece of the body; ``b""`` at its end."""
        while not self._body:
            if self._complete:
                return b""
            await self._wait()
        data = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        self._body.clear()
        self._buffered = 0
        if self._paused and not self._closed and self.transport is not None:
            self._paused = False
            self._last_read = self._loop.time()
            self.transport.resume_reading()
        return data

    def complete_body(self) -> bytes | None:
        """The whole body, taken at once, when the answer is complete and reading was never paused (what
        ``read_all`` would return without waiting); else None."""
        if not self._complete or self._paused:
            return None
        body = self._body
        data = body[0] if len(body) == 1 else b"".join(body)
        body.clear()
        self._buffered = 0
        return data

    async def read_all(self) -> bytes:
        """The whole body (its size was checked against the limit by the caller)."""
        pieces = []
        while chunk := await self.read_chunk():
            pieces.append(chunk)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def done(self) -> None:
        """This request is over (answer read or abandoned); an unfinished answer closes the connection."""
        self.busy = False  # the timer stays: it finds the connection idle, or busy with a later request
        if not self._complete:
            self.close()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.transport is not None and not self._closed:
            self.transport.close()
        self._closed = True

    async def _wait(self) -> None:
        if self._error is not None:
            raise self._error
        waiter = self._waiter = self._loop.create_future()
        try:
            await waiter
        finally:
            self._waiter = None
        if self._error is not None:
            raise self._error

    def _pause(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: BaseException) -> None:
        if self._error is None and not self._complete:
            self._error = error
        self.close()
        self._wake()

    def _on_timer(self) -> None:
        self._timer = None
        if not self.busy or self._complete or self._closed:
            return
        now = self._loop.time()
        due = self._deadline
        if self._reading and not self._paused:
            due = min(due, self._last_read + self._read_timeout)
        if now >= due:
            self._fail(TimeoutError())
        else:
            self._timer = self._loop.call_at(due, self._on_timer)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio.Transport subclass

    def data_received(self, data: bytes) -> None:
        if not self.busy or self._complete:  # nothing was asked: the connection is out of step
            self._fail(AnswerBroken("the CRM sent data it was not asked for"))
            return
        self.seen = True
        self._last_read = self._loop.time()
        assert self._parser is not None
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(AnswerBroken("the CRM switched protocols"))
        except httptools.HttpParserError:
            self._fail(self._error or AnswerBroken("the CRM's answer is malformed"))
        if not self._head_done:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._fail(AnswerBroken("the CRM's answer headers are too large"))

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        waiter = self._write_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self.busy and self._head_done and self._eof_ends and exc is None:
            self._complete = True
            self.keep_alive = False
            self._wake()
            return
        self._fail(AnswerBroken("the CRM closed the connection"))

    def pause_writing(self) -> None:
        self._write_waiter = self._loop.create_future()

    def resume_writing(self) -> None:
        waiter, self._write_waiter = self._write_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
