"""RESP2 for the limiter's direct Redis path: commands packed into bytes, replies read from bytes (hiredis's C
reader when installed, a small Python reader otherwise), and where a ``redis://``, ``rediss://`` or
``unix://`` URL says to connect, read by redis-py's own URL parser so that every option means what it did."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection, parse_url
from redis.exceptions import RedisError

P = TypeVar("P", bound=asyncio.BaseProtocol)


class ReplyError(Exception):
    """An error reply from the server (``NOSCRIPT ...``, ``WRONGPASS ...``), returned in place of a value."""


class ProtocolError(Exception):
    """Bytes from the server that are not RESP2: the connection cannot be trusted any more."""


class Reader(Protocol):
    def feed(self, data: bytes, /) -> None: ...

    def gets(self) -> Any:
        """The next complete reply, or False while it is incomplete."""


def pack(parts: Sequence[bytes]) -> bytes:
    """One command as a RESP array of bulk strings."""
    return b"*%d\r\n" % len(parts) + b"".join([b"$%d\r\n%b\r\n" % (len(part), part) for part in parts])


class _Incomplete(Exception):
    pass


class PyReader:
    """The RESP2 replies the limiter gets (integers, strings, errors, nil, nested arrays), in Python."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes, /) -> None:
        self._buffer += data

    def gets(self) -> Any:
        try:
            reply, end = self._parse(0)
        except _Incomplete:
            return False
        except ValueError as exc:
            raise ProtocolError("not a RESP2 reply") from exc
        del self._buffer[:end]
        return reply

    def _parse(self, start: int) -> tuple[Any, int]:
        buffer = self._buffer
        line_end = buffer.find(b"\r\n", start)
        if line_end < 0:
            raise _Incomplete
        kind, line, after = buffer[start], bytes(buffer[start + 1 : line_end]), line_end + 2
        if kind == ord(":"):
            return int(line), after
        if kind == ord("+"):
            return line, after
        if kind == ord("-"):
            return ReplyError(line.decode(errors="replace")), after
        if kind == ord("$"):
            size = int(line)
            if size < 0:
                return None, after
            if len(buffer) < after + size + 2:
                raise _Incomplete
            if buffer[after + size : after + size + 2] != b"\r\n":
                raise ValueError("bulk string without CRLF")
            return bytes(buffer[after : after + size]), after + size + 2
        if kind == ord("*"):
            items: list[Any] = []
            for _ in range(int(line)):  # *-1 (nil) gives an empty list: no command of ours gets one
                item, after = self._parse(after)
                items.append(item)
            return items, after
        raise ValueError(f"unknown RESP2 type byte {kind!r}")


def new_reader() -> Reader:
    try:
        import hiredis
    except ImportError:  # the ``speed`` extra is not installed
        return PyReader()
    reader: Reader = hiredis.Reader(protocolError=ProtocolError, replyError=ReplyError)
    return reader


@dataclass(frozen=True, slots=True)
class Target:
    """How to reach one Redis server and the commands each new connection sends first (AUTH, SELECT,
    CLIENT SETNAME; never shown: they carry the password)."""

    connection: Connection | UnixDomainSocketConnection = field(repr=False)
    handshake: tuple[bytes, ...] = field(repr=False)

    async def open(self, factory: Callable[[], P]) -> P:
        loop = asyncio.get_running_loop()
        connection = self.connection
        if isinstance(connection, UnixDomainSocketConnection):
            _, protocol = await loop.create_unix_connection(factory, connection.path)
            return protocol
        ssl = connection.ssl_context.get() if isinstance(connection, SSLConnection) else None
        _, protocol = await loop.create_connection(factory, connection.host, connection.port, ssl=ssl)
        return protocol


_OPTIONS = {"host", "port", "path", "db", "username", "password", "client_name", "connection_class"}


def target_from_url(url: str) -> Target | None:
    """The target of a one-server URL, or None where the URL asks for something the direct path does not
    do (an option other than ``db``, ``client_name`` and the ``ssl_*`` ones): redis-py's client serves it."""
    kwargs: dict[str, Any] = dict(parse_url(url))
    if any(name not in _OPTIONS and not name.startswith("ssl_") for name in kwargs):
        return None
    connection_class = kwargs.pop("connection_class", Connection)
    try:
        connection = connection_class(**kwargs)  # redis-py's defaults and checks (TLS ones included)
    except (TypeError, ValueError, RedisError):
        return None  # redis-py's client reports it, as it always did
    handshake = []
    if connection.password:
        user = [connection.username.encode()] if connection.username else []
        handshake.append(pack([b"AUTH", *user, connection.password.encode()]))
    if connection.db:
        handshake.append(pack([b"SELECT", str(int(connection.db)).encode()]))
    if connection.client_name:
        handshake.append(pack([b"CLIENT", b"SETNAME", connection.client_name.encode()]))
    return Target(connection, tuple(handshake))
