from __future__ import annotations

from typing import Any

import pytest

from gateway.ratelimit.resp import ProtocolError, PyReader, Reader, ReplyError, pack, target_from_url

hiredis = pytest.importorskip("hiredis")

REPLIES = [
    b":42\r\n",
    b":-7\r\n",
    b"+PONG\r\n",
    b"-NOSCRIPT No matching script. Please use EVAL.\r\n",
    b"$5\r\nhe\r\nl\r\n",
    b"$0\r\n\r\n",
    b"$-1\r\n",
    b"*5\r\n:1\r\n:2\r\n:24\r\n:40000000000\r\n:0\r\n",
    b"*0\r\n",
    b"*2\r\n*1\r\n$3\r\nabc\r\n-ERR bad\r\n",
]


def readers() -> list[Reader]:
    return [PyReader(), hiredis.Reader(protocolError=ProtocolError, replyError=ReplyError)]


def plain(reply: Any) -> Any:
    if isinstance(reply, ReplyError):
        return ("error", str(reply))
    if isinstance(reply, list):
        return [plain(item) for item in reply]
    return reply


def drain(reader: Reader) -> list[Any]:
    replies = []
    while (reply := reader.gets()) is not False:
        replies.append(plain(reply))
    return replies


@pytest.mark.parametrize("data", REPLIES)
def test_python_reader_reads_what_hiredis_reads_whole_or_byte_by_byte(data: bytes) -> None:
    python, c_reader = readers()
    c_reader.feed(data)
    expected = drain(c_reader)
    assert len(expected) == 1
    python.feed(data)
    assert drain(python) == expected
    for byte in data * 2:  # two replies, a byte at a time: nothing before each is complete
        python.feed(bytes([byte]))
        expected_so_far = drain(python)
        assert expected_so_far in ([], expected)


def test_python_reader_keeps_the_rest_for_the_next_reply() -> None:
    reader = PyReader()
    reader.feed(b":1\r\n:2\r\n$3\r\nab")
    assert [reader.gets(), reader.gets(), reader.gets()] == [1, 2, False]
    reader.feed(b"c\r\n")
    assert reader.gets() == b"abc"


@pytest.mark.parametrize("data", [b"?what\r\n", b":12x\r\n", b"*1\r\n!\r\n"])
def test_bytes_that_are_not_resp_are_a_protocol_error(data: bytes) -> None:
    for reader in readers():
        reader.feed(data)
        with pytest.raises(ProtocolError):
            reader.gets()


def test_pack_is_a_resp_array_of_bulk_strings() -> None:
    assert (
        pack([b"EVALSHA", b"ab", b"1", b"k\r\n"])
        == b"*4\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n1\r\n$3\r\nk\r\n\r\n"
    )
    reader = PyReader()
    reader.feed(pack([b"SET", b"", b"\xff"]))
    assert reader.gets() == [b"SET", b"", b"\xff"]


@pytest.mark.parametrize(
    ("url", "handshake"),
    [
        ("redis://127.0.0.1:6379", []),
        ("redis://:p%40ss@h/2", [[b"AUTH", b"p@ss"], [b"SELECT", b"2"]]),
        (
            "redis://bob:pw@h:7000/0?client_name=gw",
            [[b"AUTH", b"bob", b"pw"], [b"CLIENT", b"SETNAME", b"gw"]],
        ),
        ("rediss://h?db=4&ssl_cert_reqs=none", [[b"SELECT", b"4"]]),
        ("unix:///run/redis.sock?db=1", [[b"SELECT", b"1"]]),
    ],
)
def test_handshake_of_a_url(url: str, handshake: list[list[bytes]]) -> None:
    target = target_from_url(url)
    assert target is not None
    assert list(target.handshake) == [pack(command) for command in handshake]
    assert "p@ss" not in repr(target) and "pw" not in repr(target)


@pytest.mark.parametrize(
    "url",
    [
        "redis://h?socket_keepalive=true",  # options the direct path does not do: redis-py's client
        "redis://h?protocol=3",
        "redis://h?ssl_cert_reqs=none",  # TLS options without TLS: redis-py refuses them as it did
        "rediss://h?ssl_cert_reqs=sometimes",
    ],
)
def test_urls_left_to_redis_py(url: str) -> None:
    assert target_from_url(url) is None
