"""The limiter's calls written to one Redis connection directly: the calls of one loop turn packed into one
write, their replies read back in order by an ``asyncio.Protocol``, one timer per batch, no task per batch.

- Each call is an EVALSHA, atomic on the server, in arrival order; a ``NOSCRIPT`` reply (script cache
  flushed, fresh server) sends that call again as EVAL on the same connection, within the same bound.
- A batch is bounded by ``timeout_s`` from the turn it was sent in, connecting included. A batch still
  unanswered then fails (``redis timed out``) and the connection is dropped with every call on it, never
  retried (the script may have run); the next batch connects afresh.
- A connection the server closes or resets sends the calls still waiting on it once more on a new
  connection (a stale socket after a restart); a second loss, a refused connect, a handshake the server
  refuses or bytes that are not RESP fail them (``redis failed: ...``).
- One connection at a time; connections open on demand and are closed with :meth:`DirectScript.close`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import cast

from gateway.ratelimit.base import LimiterUnavailable
from gateway.ratelimit.resp import ProtocolError, Reader, ReplyError, Target, new_reader, pack


class _Batch:
    __slots__ = ("left", "timer")

    def __init__(self, left: int) -> None:
        self.left = left  # calls whose reply or failure is still to come
        self.timer: asyncio.TimerHandle | None = None


class _Call:
    __slots__ = ("batch", "packed", "parts", "reply", "retried", "script")

    def __init__(
        self, parts: list[bytes], reply: asyncio.Future[object], script: bool, packed: bytes | None = None
    ) -> None:
        self.parts = parts
        self.packed = packed  # pack(parts), when the caller had it already
        self.reply = reply
        self.script = script  # an EVALSHA that NOSCRIPT turns into EVAL
        self.batch: _Batch | None = None
        self.retried = False


class _Link(asyncio.Protocol):
    """One connection: each reply goes to the call that waits for it, first come first served."""

    def __init__(self, owner: DirectScript, reader: Reader) -> None:
        self.owner = owner
        self.reader = reader
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[_Call | None] = deque()  # None: a handshake command's reply
        self.dead = False
        self.gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not its subclasses

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        try:
            while not self.dead and (reply := self.reader.gets()) is not False:
                self.owner._replied(self, self.waiting.popleft(), reply)
        except (ProtocolError, IndexError) as exc:  # IndexError: a reply nobody asked for
            self.owner._drop(self, f"redis failed: {type(exc).__name__}", retry=False)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.gone.done():
            self.gone.set_result(None)
        if not self.dead:
            self.owner._drop(self, "redis failed: ConnectionError", retry=True)

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)


class DirectScript:
    """Sends script calls and plain commands to one Redis server; see the module's text."""

    def __init__(
        self,
        target: Target,
        sha: str,
        script: str,
        timeout_s: float,
        reader: Callable[[], Reader] = new_reader,
    ) -> None:
        self._target = target
        self._sha = sha.encode()
        self._script = script.encode()
        self._timeout_s = timeout_s
        self._timed_out = f"redis timed out after {timeout_s * 1000:.0f} ms"
        self._reader = reader
        self._queue: list[_Call] = []
        self._parked: list[_Call] = []  # sent, waiting for a connection
        self._link: _Link | None = None
        self._opening: asyncio.Task[None] | None = None
        self._closed = False

    def call(self, keys: list[str], args: list[str | int]) -> asyncio.Future[object]:
        """The script's reply for these keys and arguments (EVALSHA, or EVAL when the server lacks it)."""
        return self._submit(self.parts(keys, args), script=True)

    def parts(self, keys: list[str], args: list[str | int]) -> list[bytes]:
        """The EVALSHA command :meth:`call` sends for these keys and arguments."""
        parts = [b"EVALSHA", self._sha, b"%d" % len(keys), *[key.encode() for key in keys]]
        parts += [arg.encode() if isinstance(arg, str) else b"%d" % arg for arg in args]
        return parts

    def call_parts(self, parts: list[bytes], packed: bytes) -> asyncio.Future[object]:
        """:meth:`call` for a command :meth:`parts` built and ``pack`` encoded before (a caller that keeps
        them); the list is copied, as NOSCRIPT rewrites its head."""
        return self._submit(list(parts), script=True, packed=packed)

    def command(self, *parts: bytes) -> asyncio.Future[object]:
        return self._submit(list(parts), script=False)

    async def close(self) -> None:
        """Closes the connection; calls still waiting are cancelled, later ones fail at once."""
        self._closed = True
        if self._opening is not None:
            self._opening.cancel()
        calls, self._queue, self._parked = self._queue + self._parked, [], []
        link, self._link = self._link, None
        if link is not None:
            link.dead = True
            calls += [call for call in link.waiting if call is not None]
        for call in calls:
            call.reply.cancel()
            if call.batch is not None and call.batch.timer is not None:
                call.batch.timer.cancel()
        if link is not None and link.transport is not None:
            link.transport.close()
            await asyncio.wait([link.gone], timeout=self._timeout_s)

    def _submit(
        self, parts: list[bytes], *, script: bool, packed: bytes | None = None
    ) -> asyncio.Future[object]:
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[object] = loop.create_future()
        if self._closed:
            reply.set_exception(LimiterUnavailable("redis limiter closed"))
            return reply
        if not self._queue:
            loop.call_soon(self._flush)
        self._queue.append(_Call(parts, reply, script, packed))
        return reply

    def _flush(self) -> None:
        calls = [call for call in self._queue if not call.reply.done()]  # not cancelled meanwhile
        self._queue = []
        if not calls or self._closed:
            return
        batch = _Batch(len(calls))
        batch.timer = asyncio.get_running_loop().call_later(self._timeout_s, self._expire, batch)
        for call in calls:
            call.batch = batch
        link = self._link
        if link is not None:
            self._write(link, calls)
        else:
            self._parked += calls
            self._open()

    def _write(self, link: _Link, calls: list[_Call]) -> None:
        sending = []
        for call in calls:
            if call.reply.done():  # its caller gave up before it was sent: not charged
                self._settle(call)
            else:
                sending.append(call)
        if sending:
            link.waiting.extend(sending)
            link.write(b"".join([call.packed or pack(call.parts) for call in sending]))

    def _replied(self, link: _Link, call: _Call | None, reply: object) -> None:
        if call is None:
            if isinstance(reply, ReplyError):  # AUTH or SELECT refused: no use sending more
                code = str(reply).partition(" ")[0]
                self._drop(link, f"redis refused the connection setup ({code})", retry=False)
            return
        if call.script and isinstance(reply, ReplyError) and str(reply).startswith("NOSCRIPT"):
            call.script = False
            call.parts[:2] = [b"EVAL", self._script]
            call.packed = None
            self._write(link, [call])
            return
        self._settle(call)
        if call.reply.done():
            return
        if isinstance(reply, ReplyError):  # this call's own error, as redis-py raised it
            call.reply.set_exception(LimiterUnavailable("redis failed: ResponseError"))
        else:
            call.reply.set_result(reply)

    def _settle(self, call: _Call) -> None:
        batch = call.batch
        if batch is not None:
            batch.left -= 1
            if batch.left == 0 and batch.timer is not None:
                batch.timer.cancel()

    def _fail(self, call: _Call, message: str) -> None:
        self._settle(call)
        if not call.reply.done():  # one exception object per caller: each raise collects its own traceback
            call.reply.set_exception(LimiterUnavailable(message))

    def _expire(self, batch: _Batch) -> None:
        parked = [call for call in self._parked if call.batch is batch]
        if parked:
            self._parked = [call for call in self._parked if call.batch is not batch]
            for call in parked:
                self._fail(call, self._timed_out)
        link = self._link
        if link is not None and any(call is not None and call.batch is batch for call in link.waiting):
            self._drop(link, self._timed_out, retry=False)

    def _drop(self, link: _Link, message: str, *, retry: bool) -> None:
        """Give up ``link``: its waiting calls go once more on a new connection (``retry``) or fail."""
        link.dead = True
        if self._link is link:
            self._link = None
        if link.transport is not None:
            link.transport.abort()
        again = []
        for call in link.waiting:
            if call is None:
                continue
            if retry and not self._closed and not call.retried and not call.reply.done():
                call.retried = True
                again.append(call)
            else:
                self._fail(call, message)
        link.waiting.clear()
        if again:
            self._parked[:0] = again
            self._open()

    def _open(self) -> None:
        if self._opening is None and not self._closed:
            self._opening = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        try:
            async with asyncio.timeout(self._timeout_s):
                link = await self._target.open(lambda: _Link(self, self._reader()))
        except Exception as exc:  # refused, unreachable, TLS refused, timed out: every parked call fails
            message = (
                self._timed_out if isinstance(exc, TimeoutError) else f"redis failed: {type(exc).__name__}"
            )
            parked, self._parked = self._parked, []
            for call in parked:
                self._fail(call, message)
            return
        finally:
            self._opening = None
        if self._closed or link.dead or link.transport is None:
            link.dead = True
            if link.transport is not None:
                link.transport.close()
            parked, self._parked = self._parked, []
            for call in parked:
                self._fail(call, "redis failed: ConnectionError")
            return
        self._link = link
        if self._target.handshake:
            link.waiting.extend([None] * len(self._target.handshake))
            link.write(b"".join(self._target.handshake))
        parked, self._parked = self._parked, []
        self._write(link, parked)
