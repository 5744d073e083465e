"""Write one request on a pooled connection and wait for the answer's head, with the upstream's timeouts.

A reused keep-alive connection the upstream closed while it was idle is retried once on a new connection,
as aiohttp's client does, only for an idempotent method whose body is known bytes and only when not one
byte of an answer arrived; a streamed body is never sent twice."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

from gateway.answers.errors import AnswerBroken
from gateway.errors import BadGateway, GatewayTimeout
from gateway.proxy.connection import Connection
from gateway.proxy.pool import Pool

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
"""aiohttp's ``IDEMPOTENT_METHODS``: the ones it retries once on a dropped keep-alive connection."""


async def send(pool: Pool, method: str, head: bytes, stream: AsyncIterator[bytes] | None) -> Connection:
    """The connection with the answer's head read; the caller relays the answer, then releases it."""
    timeouts = pool.timeouts
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeouts.total
    retry = method in IDEMPOTENT and stream is None
    while True:
        conn = pool.take_idle()
        if conn is None:
            conn = await _acquire(pool, deadline)
        conn.start(method, deadline, timeouts.read, reading=stream is None)
        try:
            conn.write(head)
            if stream is not None:
                await _stream_body(conn, stream)
            await conn.head()
            return conn
        except AnswerBroken as broken:
            pool.release(conn)
            if retry and not conn.seen and conn.reused:
                retry = False
                continue
            raise BadGateway(f"the CRM connection failed: {broken}") from None
        except TimeoutError:
            pool.release(conn)
            raise GatewayTimeout("the CRM did not answer in time") from None
        except BaseException:
            pool.release(conn)
            raise


async def _acquire(pool: Pool, deadline: float) -> Connection:
    try:
        return await pool.acquire(deadline)
    except TimeoutError:
        raise GatewayTimeout("the CRM did not answer in time") from None
    except ssl.SSLError as error:  # certificate refused included
        raise BadGateway(
            f"the CRM's TLS could not be verified ({error.reason or 'handshake failed'})"
        ) from None
    except OSError:
        raise BadGateway("the CRM could not be reached") from None


async def _stream_body(conn: Connection, stream: AsyncIterator[bytes]) -> None:
    """The client's body in chunks; stops early when the upstream answered and closed before its end."""
    async for chunk in stream:
        if conn.closed:
            return
        if chunk:
            conn.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            await conn.drain()
    if not conn.closed:
        conn.write(b"0\r\n\r\n")
    conn.begin_reading()
