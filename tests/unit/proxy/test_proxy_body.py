"""Reading a request body within the upstream's limit: a body buffered whole before the handler runs and
one still streaming in give the same bytes, and either is refused once it is over the limit."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from gateway.errors import PayloadTooLarge
from gateway.proxy.body import _read_limited

LIMIT = 64 * 1024


async def echo(request: web.Request) -> web.Response:
    buffered = request.content.is_eof()
    try:
        body = await _read_limited(request, LIMIT)
    except PayloadTooLarge:
        return web.Response(status=413, text=f"buffered={buffered}")
    return web.Response(text=f"buffered={buffered} {len(body)} {hashlib.sha256(body).hexdigest()}")


async def streamed(body: bytes, parts: int) -> AsyncIterator[bytes]:
    step = max(1, len(body) // parts)
    for start in range(0, len(body), step):
        await asyncio.sleep(0.01)
        yield body[start : start + step]


def payload(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


@pytest.mark.parametrize("size", [0, 1, 200, LIMIT])
@pytest.mark.parametrize("stream", [False, True])
async def test_a_body_within_the_limit_is_read_whole(aiohttp_client: Any, size: int, stream: bool) -> None:
    app = web.Application()
    app.router.add_post("/", echo)
    client = await aiohttp_client(app)
    body = payload(size)
    data: Any = streamed(body, 4) if stream else body
    resp = await client.post("/", data=data)
    text = await resp.text()
    assert resp.status == 200, text
    buffered, _, rest = text.partition(" ")
    assert rest == f"{size} {hashlib.sha256(body).hexdigest()}"
    if not stream or size >= 4:  # a body sent in several parts is still streaming in when read
        assert buffered == f"buffered={not stream}"


@pytest.mark.parametrize("stream", [False, True])
async def test_a_body_over_the_limit_is_refused(aiohttp_client: Any, stream: bool) -> None:
    app = web.Application()
    app.router.add_post("/", echo)
    client = await aiohttp_client(app)
    body = payload(LIMIT + 1)
    data: Any = streamed(body, 4) if stream else body
    resp = await client.post("/", data=data)
    assert (resp.status, await resp.text()) == (413, f"buffered={not stream}")
