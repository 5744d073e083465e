from __future__ import annotations

import gzip
import zlib

import pytest

from gateway.answers.encoding import decoder_for
from gateway.answers.errors import AnswerUnreadable

BODY = b'{"values":[' + b'{"id":1,"name":"x"},' * 5000 + b"{}]}"


def _decode(header: str | None, data: bytes, step: int = 1000) -> bytes:
    decoder = decoder_for(header)
    out = [p for i in range(0, len(data), step) for p in decoder.feed(data[i : i + step])]
    return b"".join([*out, *decoder.close()])


@pytest.mark.parametrize(
    ("header", "encoded"),
    [
        (None, BODY),
        ("identity", BODY),
        ("gzip", gzip.compress(BODY)),
        ("x-gzip", gzip.compress(BODY)),
        ("GZIP", gzip.compress(BODY)),
        ("deflate", zlib.compress(BODY)),
    ],
)
def test_readable_encodings_decode_in_pieces(header: str | None, encoded: bytes) -> None:
    assert _decode(header, encoded) == BODY


def test_raw_deflate_decodes_too() -> None:
    compressor = zlib.compressobj(wbits=-15)
    raw = compressor.compress(BODY) + compressor.flush()
    assert _decode("deflate", raw) == BODY


@pytest.mark.parametrize("header", ["br", "zstd", "compress", "gzip, gzip", "gzip, br", "x-custom"])
def test_other_encodings_are_unreadable(header: str) -> None:
    with pytest.raises(AnswerUnreadable):
        decoder_for(header)


@pytest.mark.parametrize(
    "data",
    [gzip.compress(BODY)[:-20], b"\x1f\x8b" + b"garbage" * 10, gzip.compress(BODY) + b"trailing"],
    ids=["truncated", "corrupt", "trailing-data"],
)
def test_broken_gzip_is_unreadable(data: bytes) -> None:
    with pytest.raises(AnswerUnreadable):
        _decode("gzip", data)


def test_a_small_chunk_cannot_expand_into_one_huge_piece() -> None:
    bomb = gzip.compress(b"\0" * (20 * 1024 * 1024))
    decoder = decoder_for("gzip")
    pieces = decoder.feed(bomb)
    assert max(len(p) for p in pieces) <= 256 * 1024
    assert sum(len(p) for p in pieces) + sum(len(p) for p in decoder.close()) == 20 * 1024 * 1024
