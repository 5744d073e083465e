"""The keep-alive connections to one upstream: at most ``max_connections`` open, idle ones reused (most
recent first) and closed after ``KEEPALIVE`` seconds, TLS verified as aiohttp's default for https."""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from functools import cache

from yarl import URL

from gateway.config.model import UpstreamConfig
from gateway.proxy.connection import Connection

KEEPALIVE = 30.0
"""Seconds an idle connection is kept (aiohttp's ``keepalive_timeout`` as the gateway set it)."""


@cache
def tls_context() -> ssl.SSLContext:
    """Certificates and host name verified against the system's trust store, as aiohttp's default."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(("http/1.1",))
    return context


class Pool:
    __slots__ = (
        "_all",
        "_idle",
        "_limit",
        "_loop",
        "_open",
        "_port",
        "_server_hostname",
        "_ssl",
        "_sweeper",
        "_waiters",
        "closed",
        "host",
        "host_header",
        "targets",
        "timeouts",
    )

    def __init__(self, config: UpstreamConfig) -> None:
        url = URL(config.origin)
        self.host = url.raw_host or ""
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self.host_header = url.host_port_subcomponent or self.host
        """The Host header aiohttp sends for this origin (the port only when not the scheme's default)."""
        https = url.scheme == "https"
        self._ssl = tls_context() if https else None
        self._server_hostname = self.host if https else None
        self._limit = config.max_connections
        self.timeouts = config.timeouts
        self._open = 0
        self._idle: list[tuple[Connection, float]] = []
        self._all: set[Connection] = set()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self.closed = False
        self.targets: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
        """Request targets sent lately, by path and query pairs (gateway/proxy/forward.py)."""

    async def acquire(self, deadline: float) -> Connection:
        """A connection (``reused`` says whether it served a request before); waits while
        ``max_connections`` are busy, until ``deadline`` (loop time); a new connection gets the connect
        timeout. TimeoutError, or OSError when the upstream cannot be reached."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        conn = self._idle_connection(loop)
        if conn is not None:
            return conn
        async with asyncio.timeout_at(deadline):
            while self._open >= self._limit:
                await self._wait(loop)
                conn = self._idle_connection(loop)
                if conn is not None:
                    return conn
        if self.closed:
            raise ConnectionError("the upstream's connection pool is closed")
        self._open += 1
        try:
            async with asyncio.timeout_at(min(deadline, loop.time() + self.timeouts.connect)):
                _, conn = await loop.create_connection(
                    lambda: Connection(loop),
                    self.host,
                    self._port,
                    ssl=self._ssl,
                    server_hostname=self._server_hostname,
                )
        except BaseException:
            self._open -= 1
            self._wake_one()
            raise
        self._all.add(conn)
        return conn

    def take_idle(self) -> Connection | None:
        """An idle connection at once, as ``acquire`` takes one first; None: ``acquire`` (it waits or
        connects)."""
        return self._idle_connection(self._loop) if self._loop is not None else None

    def _idle_connection(self, loop: asyncio.AbstractEventLoop) -> Connection | None:
        idle = self._idle
        while idle:
            conn, since = idle.pop()
            if not conn.closed and loop.time() - since < KEEPALIVE:
                conn.reused = True
                return conn
            self._drop(conn)
        return None

    async def _wait(self, loop: asyncio.AbstractEventLoop) -> None:
        waiter = loop.create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._wake_one()  # the slot this waiter was given goes to the next one
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        if self.closed:
            raise ConnectionError("the upstream's connection pool is closed")

    def release(self, conn: Connection) -> None:
        """The request on ``conn`` is over: keep it for the next one when its answer was read to the end
        and both sides keep it alive, else close it."""
        conn.done()
        if conn.reusable and not self.closed:
            assert self._loop is not None
            self._idle.append((conn, self._loop.time()))
            if self._sweeper is None:
                self._sweeper = self._loop.call_later(KEEPALIVE, self._sweep)
        else:
            self._drop(conn)
        self._wake_one()

    def _drop(self, conn: Connection) -> None:
        conn.close()
        self._all.discard(conn)
        self._open -= 1

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _sweep(self) -> None:
        self._sweeper = None
        assert self._loop is not None
        now = self._loop.time()
        keep: list[tuple[Connection, float]] = []
        for conn, since in self._idle:
            if conn.closed or now - since >= KEEPALIVE:
                self._drop(conn)
            else:
                keep.append((conn, since))
        self._idle[:] = keep
        if keep:
            self._sweeper = self._loop.call_at(keep[0][1] + KEEPALIVE, self._sweep)

    async def close(self) -> None:
        """Every connection closed, those still serving a request too (as aiohttp's session closes)."""
        self.closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn, _ in self._idle:
            self._drop(conn)
        self._idle.clear()
        for conn in self._all:
            conn.close()  # busy: its request fails, and the release drops it
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
