"""What the upstream receives from the lean client is byte for byte what aiohttp's client sent before it
(the session gateway/proxy/client.py builds), for each body shape and method."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from multidict import CIMultiDict
from yarl import URL

from gateway.errors import BadGateway
from gateway.proxy.client import make_session
from gateway.proxy.pool import Pool
from gateway.proxy.request_head import request_head, request_target
from gateway.proxy.sending import send
from tests.support.raw_upstream import config_for, ok, raw_upstream

pytestmark = pytest.mark.timeout(20)

CASES = [
    ("GET", None, False),
    ("HEAD", None, False),
    ("OPTIONS", None, False),
    ("DELETE", None, False),
    ("POST", None, False),
    ("POST", b"a=1&b=2", False),
    ("PUT", b"", False),
    ("GET", b"", False),
    ("PATCH", b"{}", False),
    ("POST", b"streamed", True),
]


async def _parts(data: bytes) -> AsyncIterator[bytes]:
    yield data[:3]
    yield data[3:]


@pytest.mark.parametrize(("method", "body", "streamed"), CASES)
@pytest.mark.parametrize("accept", [None, "application/json"])
async def test_the_request_is_what_aiohttp_sent(
    method: str, body: bytes | None, streamed: bool, accept: str | None
) -> None:
    headers = CIMultiDict({"X-Forwarded-For": "10.0.0.1", "X-Api-Key": "k€y", "Accept-Encoding": "identity"})
    if accept:
        headers["Accept"] = accept
    path, query = "/api/v1/Lead", "select=name%2Cid&where%5B0%5D=a+b"
    async with raw_upstream(ok(b"" if method == "HEAD" else b"hello")) as up:
        config = config_for(up.origin)
        session = make_session(config)
        data: object = _parts(body) if streamed and body else body
        url = URL(f"{up.origin}{path}?{query}", encoded=True)
        async with session.request(method, url, headers=headers, data=data, allow_redirects=False) as resp:
            await resp.read()
        await session.close()
        pool = Pool(config)
        target = request_target(up.origin, path, query)
        length = None if body is None or streamed else len(body)
        head = request_head(method, target, pool.host_header, headers, length, chunked=streamed)
        conn = await send(
            pool,
            method,
            head + (b"" if streamed else body or b""),
            _parts(body) if streamed and body else None,
        )
        await conn.read_all()
        pool.release(conn)
        await pool.close()
    theirs, ours = up.seen
    assert (ours.head, ours.body) == (theirs.head, theirs.body)


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("http://Example.COM", "example.com"),
        ("http://example.com:80", "example.com"),
        ("https://example.com:443", "example.com"),
        ("http://example.com:8080", "example.com:8080"),
        ("https://[::1]:8443", "[::1]:8443"),
    ],
)
def test_the_host_header_names_the_port_only_when_not_the_default(origin: str, host: str) -> None:
    assert Pool(config_for(origin)).host_header == host


@pytest.mark.parametrize(
    ("path", "query", "target"),
    [
        ("/a/./b/../c", "", "/a/./b/../c"),
        ("/p%2Fq", "x=1", "/p%2Fq?x=1"),
        ("", "x=1", "/?x=1"),
        ("/a#frag", "", "/a"),
    ],
)
def test_the_request_target_is_sent_as_aiohttp_sent_the_url(path: str, query: str, target: str) -> None:
    assert request_target("http://h", path, query) == target
    text = path + ("?" + query if query else "")
    assert URL("http://h" + text, encoded=True).raw_path_qs == target


BAD = ["a\r\nX-Injected: 1", "a\nb", "a\x00b", "a\x7fb"]


@pytest.mark.parametrize("bad", BAD)
def test_a_control_character_in_a_header_never_reaches_the_wire(bad: str) -> None:
    with pytest.raises(BadGateway):
        request_head("GET", "/", "h", CIMultiDict({"X-Value": bad}), None)
    with pytest.raises(BadGateway):
        request_head("GET", "/", "h", CIMultiDict({bad: "v"}), None)
    assert b"\tb" in request_head("GET", "/", "h", CIMultiDict({"X": "a\tb"}), None)  # HTAB is allowed


@pytest.mark.parametrize("bad", BAD)
async def test_aiohttp_refused_the_same_control_characters(bad: str) -> None:
    async with raw_upstream(ok()) as up:
        session = make_session(config_for(up.origin))
        with pytest.raises(ValueError):
            await session.get(up.origin + "/", headers={"X-Value": bad})
        await session.close()
        assert up.seen == []
