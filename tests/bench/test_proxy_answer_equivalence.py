"""Proxy mode's answer-side shortcuts (docs/performance.md, proxytrim) give exactly what they replace: each
old form is kept here and compared on many inputs."""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.answers.encoding import Decoder, decoder_for
from gateway.answers.guard import MARK, CredentialGuard, spellings
from gateway.proxy.connection import Connection
from gateway.wire.headers import connection_tokens

# --- the credential guard: every spelling searched, as before the length check and the anchors ---


def old_body(secrets: list[str], data: bytes) -> bytes:
    forms = sorted({f for s in secrets if s for f in spellings(s)}, key=len, reverse=True)
    for form in forms:
        encoded = form.encode()
        if encoded in data:
            data = data.replace(encoded, MARK.encode())
    return data


def old_text(secrets: list[str], value: str) -> str:
    forms = sorted({f for s in secrets if s for f in spellings(s)}, key=len, reverse=True)
    for form in forms:
        if form in value:
            value = value.replace(form, MARK)
    return value


SECRETS = [
    [
        "YmVuY2gtaW50ZWdyYXRpb246ZTNiMGM0NDI5OGZjMWMxNDlhZmJmNGM4OTk2ZmI5MjQyN2FlNDFlNDY0OWI5MzRjYTQ5NTk5MWI3ODUyYjg1NQ=="
    ],
    ["site-key-1", "api+key/2=="],
    ["&<>\"'/~ %"],  # no letter or digit: no anchor, every spelling searched
    ["x"],
    ["Zoë Ünal", "名前"],
    [""],
    [],
]


def _echoes(secrets: list[str]) -> list[bytes]:
    bodies = [b"", b"{}", b'{"total":0,"list":[]}' * 20]
    for secret in secrets:
        for form in sorted(spellings(secret)) if secret else []:
            raw = form.encode()
            bodies += [raw, b'{"echo":"' + raw + b'"}', raw[: len(raw) // 2], b"a" + raw[1:] + raw + b"z"]
    return bodies


@pytest.mark.parametrize("secrets", SECRETS, ids=repr)
def test_guard_body_and_text_are_the_full_search(secrets: list[str]) -> None:
    guard = CredentialGuard(secrets)
    for data in _echoes(secrets) + [d for other in SECRETS for d in _echoes(other)]:
        assert guard.body(data) == old_body(secrets, data)
        text = data.decode("utf-8", "replace")
        assert guard.text(text) == old_text(secrets, text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=24), max_size=3), st.text(max_size=80), st.integers(0, 80))
def test_guard_body_is_the_full_search_on_any_text(secrets: list[str], noise: str, at: int) -> None:
    guard = CredentialGuard(secrets)
    for secret in secrets:
        for form in spellings(secret) if secret else ():
            data = (noise[:at] + form + noise[at:]).encode("utf-8", "surrogatepass")
            assert guard.body(data) == old_body(secrets, data)
            assert guard.text(noise[:at] + form + noise[at:]) == old_text(
                secrets, noise[:at] + form + noise[at:]
            )
    data = noise.encode("utf-8", "surrogatepass")
    assert guard.body(data) == old_body(secrets, data)


def test_the_anchors_still_find_an_echo_split_across_stream_chunks() -> None:
    secret = "abc/def+ghi=="
    scrubber = CredentialGuard([secret]).stream()
    echoed = b"x" * 50 + quote(secret, safe="").encode() + b"y" * 50
    out = b"".join(scrubber.feed(echoed[i : i + 7]) for i in range(0, len(echoed), 7)) + scrubber.close()
    assert out == b"x" * 50 + MARK.encode() + b"y" * 50


# --- the Connection header's tokens: remembered per lone value ---


def old_connection_tokens(headers: CIMultiDictProxy[str]) -> frozenset[str]:
    tokens: set[str] = set()
    if "Connection" not in headers:
        return frozenset()
    for value in headers.getall("Connection", ()):
        tokens.update(t.strip().lower() for t in value.split(",") if t.strip())
    return frozenset(tokens)


CONNECTION_VALUES = [
    [],
    ["keep-alive"],
    ["close"],
    ["Keep-Alive, X-Secret"],
    [" , ,upgrade ,"],
    ["keep-alive", "X-Other"],
    [""],
    ["TE,  X-Custom-Hop"],
]


@pytest.mark.parametrize("values", CONNECTION_VALUES, ids=repr)
def test_connection_tokens_are_the_parsed_ones(values: list[str]) -> None:
    headers = CIMultiDictProxy(
        CIMultiDict([("Content-Type", "text/plain"), *(("Connection", v) for v in values)])
    )
    for _ in range(3):  # the first time parsed, then remembered
        assert connection_tokens(headers) == old_connection_tokens(headers)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_connection_tokens_of_any_value(value: str) -> None:
    headers = CIMultiDictProxy(CIMultiDict([("Connection", value)]))
    assert connection_tokens(headers) == old_connection_tokens(headers) == old_connection_tokens(headers)
    assert connection_tokens(headers) == old_connection_tokens(headers)


# --- the identity decoder: one shared instance, as a fresh one behaves ---


def test_the_shared_identity_decoder_is_a_fresh_one() -> None:
    for _ in range(2):
        shared, fresh = decoder_for(None), Decoder("identity")
        assert shared.plain and fresh.plain
        for chunk in (b"", b"abc", b"\x1f\x8b\x08", b"x" * 70000):
            assert shared.feed(chunk) == fresh.feed(chunk)
        assert shared.close() == fresh.close() == []
    assert decoder_for(" Identity ").plain and decoder_for("").plain


# --- a complete answer's body taken at once: what read_all gives ---

ANSWERS = {
    "length": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    "empty": b"HTTP/1.1 204 No Content\r\n\r\n",
    "zero length": b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    "large": b"HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n" + b"x" * 300000,
}


def _fed(loop: asyncio.AbstractEventLoop, raw: bytes, method: str, step: int) -> Connection:
    conn = Connection(loop)
    conn.start(method, loop.time() + 30, 30, reading=True)
    for i in range(0, len(raw), step):
        conn.data_received(raw[i : i + step])
    return conn


@pytest.mark.parametrize("shape", ANSWERS)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("step", [7, 1 << 20])
async def test_complete_body_is_what_read_all_reads(shape: str, method: str, step: int) -> None:
    loop = asyncio.get_running_loop()
    raw = ANSWERS[shape]
    expected = await _fed(loop, raw, method, step).read_all()
    conn = _fed(loop, raw, method, step)
    assert conn.complete_body() == expected
    assert await conn.read_chunk() == b""


async def test_a_paused_answer_is_left_to_read_chunk() -> None:
    """Past the high-water mark the connection stops reading; only read_chunk resumes it, so
    complete_body leaves such an answer to it."""
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    conn = Connection(loop)
    await loop.create_connection(lambda: conn, sock=ours)
    try:
        conn.start("GET", loop.time() + 30, 30, reading=True)
        theirs.setblocking(False)
        sender = asyncio.ensure_future(loop.sock_sendall(theirs, ANSWERS["large"]))
        while not conn._paused:
            await asyncio.sleep(0.005)
        assert conn.complete_body() is None
        assert await conn.read_all() == b"x" * 300000
        await sender
    finally:
        conn.close()
        theirs.close()


async def test_an_incomplete_answer_has_no_complete_body() -> None:
    loop = asyncio.get_running_loop()
    conn = _fed(loop, ANSWERS["length"][:-2], "GET", 1 << 20)
    assert conn.complete_body() is None
    conn.data_received(b"lo")
    assert conn.complete_body() == b"hello"
