"""Relay one upstream answer to the client through the guard: decode, remove injected values, filter fields.

An answer the field filter must read is buffered (decoded size at most ``max_bytes``, else refused with
``answer-too-large``) and checked before a byte reaches the client, so a refusal is a clean answer in the
client's dialect. A redirect's body is dropped (it only repeats the Location). Other answers are buffered
when small and streamed otherwise, through the decoder and the credential guard's rolling window (memory
bounded by a chunk plus the longest injected value).
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.answers.encoding import Decoder, decoder_for
from gateway.answers.errors import AnswerBroken, AnswerTooLarge, AnswerUnreadable
from gateway.answers.fields import FieldFilter
from gateway.answers.guard import CredentialGuard
from gateway.answers.headers import PublicUrl, answer_headers

BUFFER_LIMIT = 256 * 1024
"""Answers that need no field filter are buffered up to this size, streamed beyond."""


class UpstreamAnswer(Protocol):
    """The upstream's answer once its head arrived (gateway/proxy/connection.py); the body is read with
    ``read_all`` or ``read_chunk`` (``b""`` at its end), either raising AnswerBroken or TimeoutError, or
    taken with ``complete_body`` when it has all arrived."""

    @property
    def status(self) -> int: ...
    @property
    def reason(self) -> str: ...
    @property
    def headers(self) -> CIMultiDictProxy[str]: ...
    @property
    def content_length(self) -> int | None: ...
    @property
    def method(self) -> str: ...
    def complete_body(self) -> bytes | None: ...
    async def read_all(self) -> bytes: ...
    async def read_chunk(self) -> bytes: ...


class AnswerPlan(NamedTuple):
    """What this request's answer must go through (built from the signed request and the policy)."""

    guard: CredentialGuard
    fields: FieldFilter | None
    max_bytes: int
    public: PublicUrl


class Relayed(NamedTuple):
    response: web.StreamResponse
    status: int
    bytes_out: int


async def relay(
    upstream: UpstreamAnswer, request: web.Request, plan: AnswerPlan, extra: CIMultiDict[str]
) -> Relayed:
    """GatewayError (in the client's dialect, by the caller) when the answer cannot be made safe before
    its headers are sent; a cut connection when that happens while streaming."""
    received = upstream.headers
    decoder = decoder_for(received.get("Content-Encoding"))
    headers = answer_headers(received, plan.guard, plan.public, decoded=True)
    headers.extend(extra)
    fields = plan.fields
    content_type = received.get("Content-Type", "")
    if fields is not None and not fields.inspects(content_type):
        fields = None
    length = upstream.content_length
    status = upstream.status
    if 300 <= status < 400 and "Location" in received:
        # a redirect's page only repeats its target, which may carry what the guard removed from Location
        headers.popall("Content-Type", None)
        return Relayed(web.Response(status=status, reason=upstream.reason, headers=headers), status, 0)
    if fields is not None or (length is not None and length <= BUFFER_LIMIT):
        limit = plan.max_bytes if fields is not None else max(plan.max_bytes, BUFFER_LIMIT)
        raw = upstream.complete_body() if decoder.plain and length is not None and length <= limit else None
        if raw is None:
            raw = await _read(upstream, decoder, limit)
        body = plan.guard.body(raw)
        if fields is not None:
            body = fields.apply(body, content_type)
        response = web.Response(status=status, reason=upstream.reason, headers=headers, body=body)
        return Relayed(response, status, len(body))
    return await _stream(upstream, request, decoder, plan.guard, headers)


async def _read(upstream: UpstreamAnswer, decoder: Decoder, limit: int) -> bytes:
    length = upstream.content_length
    if length is not None and length > limit and upstream.method != "HEAD":
        raise _too_large(limit)
    if length is not None and length <= limit and decoder.plain:
        # the parser delivers at most Content-Length bytes, and a plain body decodes to itself
        return await upstream.read_all()
    pieces: list[bytes] = []
    size = 0
    while chunk := await upstream.read_chunk():
        for piece in decoder.feed(chunk):
            size += len(piece)
            if size > limit:
                raise _too_large(limit)
            pieces.append(piece)
    for piece in decoder.close():
        size += len(piece)
        if size > limit:
            raise _too_large(limit)
        pieces.append(piece)
    return b"".join(pieces)


def _too_large(limit: int) -> AnswerTooLarge:
    return AnswerTooLarge(
        f"the CRM's answer is larger than {limit} bytes, the most this gateway inspects; "
        "ask for fewer records per request"
    )


async def _stream(
    upstream: UpstreamAnswer,
    request: web.Request,
    decoder: Decoder,
    guard: CredentialGuard,
    headers: CIMultiDict[str],
) -> Relayed:
    stream = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=headers)
    await stream.prepare(request)
    scrubber = guard.stream()
    sent = 0
    try:
        while chunk := await upstream.read_chunk():
            for piece in decoder.feed(chunk):
                out = scrubber.feed(piece)
                if out:
                    await stream.write(out)
                    sent += len(out)
        tail = b"".join(decoder.close())
        out = scrubber.feed(tail) + scrubber.close()
        if out:
            await stream.write(out)
            sent += len(out)
    except (TimeoutError, AnswerBroken, AnswerUnreadable):
        # The headers are sent: cut the connection so the client sees a broken body, never a short one.
        if request.transport is not None:
            request.transport.close()
        return Relayed(stream, 502, sent)
    await stream.write_eof()
    return Relayed(stream, upstream.status, sent)
