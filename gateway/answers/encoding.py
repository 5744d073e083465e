"""Content-Encoding the gateway reads: identity, gzip and deflate. Anything else cannot be inspected,
so it is refused (the gateway asks every upstream for ``identity``; a CRM that compresses anyway must use
one of these)."""

from __future__ import annotations

import zlib

from gateway.answers.errors import AnswerUnreadable

READABLE = ("identity", "gzip", "x-gzip", "deflate")
_OUT_STEP = 256 * 1024
"""Decoded bytes produced per step: a small compressed chunk cannot expand into one huge buffer."""


class Decoder:
    """Decodes one answer body chunk by chunk; ``feed`` and ``close`` return lists of decoded pieces."""

    __slots__ = ("_deflate", "_z")

    def __init__(self, encoding: str) -> None:
        self._deflate = encoding == "deflate"
        self._z: zlib._Decompress | None = None
        if encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)

    @property
    def plain(self) -> bool:
        """``identity``: every piece comes out as it went in."""
        return self._z is None and not self._deflate

    def feed(self, chunk: bytes) -> list[bytes]:
        if self._deflate and self._z is None and chunk:
            # RFC 9110 deflate is a zlib stream; some servers send raw deflate: the first byte tells
            wbits = zlib.MAX_WBITS if (chunk[0] & 0x0F) == 8 and (chunk[0] >> 4) <= 7 else -zlib.MAX_WBITS
            self._z = zlib.decompressobj(wbits)
        if self._z is None:
            return [chunk] if chunk else []
        out: list[bytes] = []
        data = chunk
        try:
            while data:
                piece = self._z.decompress(data, _OUT_STEP)
                if piece:
                    out.append(piece)
                data = self._z.unconsumed_tail
                if self._z.eof and (data or self._z.unused_data):
                    raise AnswerUnreadable("the CRM's compressed answer has data after its end")
        except zlib.error:
            raise AnswerUnreadable("the CRM's compressed answer is corrupt") from None
        return out

    def close(self) -> list[bytes]:
        if self._z is None:
            return []
        try:
            rest = self._z.flush()
        except zlib.error:
            raise AnswerUnreadable("the CRM's compressed answer is corrupt") from None
        if not self._z.eof:
            raise AnswerUnreadable("the CRM's compressed answer is truncated")
        return [rest] if rest else []


def decoder_for(header: str | None) -> Decoder:
    """The decoder for a Content-Encoding header value; AnswerUnreadable when it is not one the gateway
    reads (several codings stacked included)."""
    if header is None:
        return _IDENTITY
    encoding = header.strip().lower() or "identity"
    if encoding not in READABLE:
        raise AnswerUnreadable(
            "the CRM answered with a content encoding the gateway cannot read; "
            "configure the CRM's web server to honour Accept-Encoding: identity (or use gzip)"
        )
    return Decoder(encoding)


_IDENTITY = Decoder("identity")
"""Shared: an identity decoder keeps no state (``feed`` hands each chunk back, ``close`` nothing)."""
