"""Proxy mode's part of reading a request: the RequestView of an aiohttp request, and its body when the
dialect needs it (bounded by the upstream's max_body_bytes)."""

from __future__ import annotations

from codecs import escape_decode
from collections.abc import AsyncIterator
from urllib.parse import unquote, unquote_to_bytes

from aiohttp import BodyPartReader, web
from aiohttp.helpers import parse_mimetype
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDict, MultiDictProxy

from gateway.admission_memo import BODY_PLANS, MEMO_BODY_BYTES, memoisable_bytes, memoisable_form
from gateway.dialects.base import RequestView
from gateway.errors import BadRequest, GatewayError, PayloadTooLarge
from gateway.policy.cache import Memo
from gateway.proxy.upstream import Upstream

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
PLAIN_ENCODINGS = frozenset({"binary", "7bit", "8bit"})


def build_view(up: Upstream, request: web.Request, rel_path: str) -> RequestView:
    refuse_compressed_body(request)
    return RequestView(
        method=request.method,
        path=up.dialect.canonical_path(rel_path),
        raw_path=rel_path,
        query=request.rel_url.query,
        headers=request.headers,
        content_type=request.content_type if request.body_exists else "",
    )


def refuse_compressed_body(request: web.Request) -> None:
    """aiohttp decompresses a request body for the gateway: forwarding it would either relabel a plain
    body as compressed or pass on bytes the gateway never read. CRM clients do not compress requests."""
    if "Content-Encoding" not in request.headers:
        return
    codings = [
        c.strip().lower() for c in request.headers.getall("Content-Encoding", ()) for c in c.split(",")
    ]
    if any(c not in ("", "identity") for c in codings):
        raise GatewayError(
            "compressed request bodies are not accepted; send it without Content-Encoding",
            reason="compressed-body",
            status=415,
        )


async def read_body(up: Upstream, view: RequestView, request: web.Request) -> None:
    if not request.body_exists or not up.dialect.body_needed(view):
        return
    length = request.content_length
    if length is not None and length > up.config.max_body_bytes:
        raise PayloadTooLarge(f"request body is larger than {up.config.max_body_bytes} bytes")
    if view.content_type == MULTIPART:
        fields = MultiDict[str]()
        try:
            async for name, value in _multipart_fields(request, up.config.max_body_bytes):
                fields.add(name, value)
        except (ValueError, RuntimeError, LookupError, HttpProcessingError):  # aiohttp's reader: malformed
            raise BadRequest("the multipart body is malformed") from None
        view.form = MultiDictProxy(fields)
        view.body = None
        return
    body = await _read_limited(request, up.config.max_body_bytes)
    is_form = view.content_type == FORM
    read = _READ.get((is_form, body)) if len(body) <= MEMO_BODY_BYTES else None
    if read is None:
        read = _read_anew(body, is_form)
    view.body, view.form, view.body_memoisable = read


Read = tuple[bytes, MultiDictProxy[str] | None, bool]
"""A body as ``read_body`` leaves it on the view: the bytes, its form, whether it may key a plan."""

_READ = Memo[Read](BODY_PLANS)
"""The same body read again (integrations repeat their calls): its form is not parsed again. Only bodies
that may key a plan are kept (small, no credential: ``admission_memo.memoisable_form``), so nothing a
client sends as a secret stays here; a body parses to the same form whoever sends it."""


def _read_anew(body: bytes, is_form: bool) -> Read:
    if not is_form:
        read: Read = (body, None, memoisable_bytes(body))
    else:
        pairs = form_pairs(body)
        read = (body, MultiDictProxy(MultiDict(pairs)), memoisable_form(pairs, len(body)))
    if read[2]:
        _READ.put((is_form, body), read)
    return read


def form_pairs(body: bytes) -> list[tuple[str, str]]:
    """An urlencoded body's name/value pairs, in order (PHP then builds ``$_POST`` from them): what
    ``parse_qsl(text, keep_blank_values=True)`` returns, without its per-call argument handling."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("form body is not valid UTF-8") from None
    pairs = []
    for field in text.split("&"):
        if field:
            name, _, value = field.partition("=")
            pairs.append((_unquote(name.replace("+", " ")), _unquote(value.replace("+", " "))))
    return pairs


def _unquote(text: str) -> str:
    """``unquote(text)``: for ASCII text it decodes the whole text's bytes at once, as here. Its
    ``%XX`` escapes become ``\\xXX`` ones that ``escape_decode`` turns into bytes in C (backslashes
    doubled first, so no other escape exists); a ``%`` not followed by two hex digits, which unquote
    keeps as it is, makes ``escape_decode`` fail and the text take unquote's own path."""
    if "%" not in text:
        return text
    if text.isascii():
        try:
            escaped = text.replace("\\", "\\\\").replace("%", "\\x").encode("ascii")
            return escape_decode(escaped)[0].decode("utf-8", "replace")
        except ValueError:
            return unquote_to_bytes(text).decode("utf-8", "replace")
    return unquote(text)


async def _read_limited(request: web.Request, limit: int) -> bytes:
    content = request.content
    if content.is_eof():  # the whole body is buffered already (a small body): taken in one piece
        body = content.read_nowait()
        if len(body) > limit:
            raise PayloadTooLarge(f"request body is larger than {limit} bytes")
        return body
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _multipart_fields(request: web.Request, limit: int) -> AsyncIterator[tuple[str, str]]:
    if not parse_mimetype(request.headers.get("Content-Type", "")).parameters.get("boundary"):
        raise BadRequest("the multipart body has no boundary")  # PHP reads no fields from it
    reader = await request.multipart()
    size = 0
    while True:
        part = await reader.next()
        if part is None:
            return
        if not isinstance(part, BodyPartReader) or part.filename is not None:  # nested multipart or a file
            raise BadRequest("file uploads are not supported on this route")
        if part.headers.get("Content-Transfer-Encoding", "binary").lower() not in PLAIN_ENCODINGS:
            raise BadRequest("a form field with a Content-Transfer-Encoding is not supported")
        if "Content-Encoding" in part.headers:
            raise BadRequest("a form field with a Content-Encoding is not supported")
        data = await part.read()  # as PHP reads it: no decoding
        size += len(data)
        if size > limit:
            raise PayloadTooLarge(f"request body is larger than {limit} bytes")
        try:
            yield part.name or "", data.decode(part.get_charset("utf-8"))
        except (UnicodeDecodeError, LookupError):
            raise BadRequest("form field is not valid text") from None
