"""Send the signed request upstream over the upstream's pool and relay the answer back to the client."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from urllib.parse import quote_plus

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from gateway.answers.errors import AnswerBroken
from gateway.answers.relay import AnswerPlan, relay
from gateway.config.model import UpstreamConfig
from gateway.errors import BadGateway, GatewayTimeout, PayloadTooLarge
from gateway.proxy.pool import Pool
from gateway.proxy.request_head import request_head, request_target
from gateway.proxy.sending import send
from gateway.signers.base import OutboundRequest

CHUNK = 64 * 1024


@dataclass(slots=True)
class Forwarded:
    status: int
    upstream_seconds: float
    bytes_out: int


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")
"""What ``quote_plus`` leaves as it is: a value made only of these needs no quoting at all."""
_ASCII_PLUS = {c: f"%{c:02X}" for c in range(128) if not _UNRESERVED.fullmatch(chr(c))} | {ord(" "): "+"}
"""``quote_plus`` for each ASCII character (UTF-8 encodes ASCII as itself)."""


def _quote_plus(value: str) -> str:
    if _UNRESERVED.fullmatch(value):
        return value
    return value.translate(_ASCII_PLUS) if value.isascii() else quote_plus(value)


def form_encode(pairs: list[tuple[str, str]]) -> str:
    """Exactly ``urlencode(pairs)`` for string pairs, minus its cost for the usual plain keys and values."""
    return "&".join([f"{_quote_plus(str(k))}={_quote_plus(str(v))}" for k, v in pairs])


def upstream_url(origin: str, out: OutboundRequest) -> URL:
    text = origin + out.path
    if out.query:
        text += "?" + form_encode(out.query)
    return URL(text, encoded=True)


TARGETS_KEPT = 1024
"""Request targets a pool remembers; when full it starts again from none."""


def target_of(pool: Pool, origin: str, path: str, query: list[tuple[str, str]]) -> str:
    """``request_target`` for ``path`` and ``query`` encoded, remembered per pool: the admission memo makes
    the same path and query the common case, and encoding the query the larger part of the work."""
    key = (path, tuple(query))
    targets = pool.targets
    target = targets.get(key)
    if target is None:
        if len(targets) >= TARGETS_KEPT:
            targets.clear()
        target = targets[key] = request_target(origin, path, form_encode(query) if query else "")
    return target


FORMS_KEPT = 1024
"""Encoded form bodies remembered (each at most ``FORM_BYTES_KEPT``); when full it starts again from none."""
FORM_BYTES_KEPT = 8192
_FORMS: dict[tuple[tuple[str, str], ...], bytes] = {}


def form_body(form: list[tuple[str, str]]) -> bytes:
    """``form_encode(form).encode()``, remembered for small forms: the admission memo makes the same form
    (a repeated body, signed the same way) the common case, and quoting it the larger part of the work."""
    key = tuple(form)
    body = _FORMS.get(key)
    if body is None:
        body = form_encode(form).encode()
        if len(body) <= FORM_BYTES_KEPT:
            if len(_FORMS) >= FORMS_KEPT:
                _FORMS.clear()
            _FORMS[key] = body
    return body


async def _limited(stream: aiohttp.StreamReader, limit: int) -> AsyncIterator[bytes]:
    seen = 0
    async for chunk in stream.iter_chunked(CHUNK):
        seen += len(chunk)
        if seen > limit:
            raise PayloadTooLarge("request body is too large")
        yield chunk


def request_payload(
    out: OutboundRequest, request: web.Request, max_body: int
) -> tuple[bytes | None, AsyncIterator[bytes] | None]:
    """The body as bytes (what the signer produced), or the client's body to stream, or neither."""
    if out.form is not None:
        out.headers["Content-Type"] = "application/x-www-form-urlencoded"
        return form_body(out.form), None
    if out.body is not None:
        return out.body, None
    if request.body_exists:
        if request.content_length is not None and request.content_length > max_body:
            raise PayloadTooLarge("request body is too large")
        return None, _limited(request.content, max_body)
    return None, None


async def forward(
    pool: Pool,
    config: UpstreamConfig,
    out: OutboundRequest,
    request: web.Request,
    *,
    extra_headers: CIMultiDict[str],
    clock: Callable[[], float],
    plan: AnswerPlan,
) -> tuple[web.StreamResponse, Forwarded]:
    """Never follows a redirect: the answer, redirects included, goes through ``plan`` to the client."""
    out.headers["Accept-Encoding"] = "identity"  # the gateway must read what the CRM answers
    body, stream = request_payload(out, request, config.max_body_bytes)
    target = target_of(pool, config.origin, out.path, out.query)
    head = request_head(
        out.method,
        target,
        pool.host_header,
        out.headers,
        None if body is None else len(body),
        chunked=stream is not None,
    )
    if body:
        head += body
    started = clock()
    conn = await send(pool, out.method, head, stream)
    try:
        relayed = await relay(conn, request, plan, extra_headers)
        return relayed.response, Forwarded(relayed.status, clock() - started, relayed.bytes_out)
    except TimeoutError:
        raise GatewayTimeout("the CRM did not answer in time") from None
    except AnswerBroken:
        raise BadGateway("the CRM connection failed") from None
    finally:
        pool.release(conn)
