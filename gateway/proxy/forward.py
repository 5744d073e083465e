"""Send the signed request upstream and stream the answer back to the client."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from urllib.parse import quote_plus

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from gateway.answers.relay import AnswerPlan, relay
from gateway.errors import BadGateway, GatewayTimeout, PayloadTooLarge
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


async def _limited(stream: aiohttp.StreamReader, limit: int) -> AsyncIterator[bytes]:
    seen = 0
    async for chunk in stream.iter_chunked(CHUNK):
        seen += len(chunk)
        if seen > limit:
            raise PayloadTooLarge("request body is too large")
        yield chunk


def request_payload(out: OutboundRequest, request: web.Request, max_body: int) -> object:
    if out.form is not None:
        out.headers["Content-Type"] = "application/x-www-form-urlencoded"
        return form_encode(out.form).encode()
    if out.body is not None:
        return out.body
    if request.body_exists:
        if request.content_length is not None and request.content_length > max_body:
            raise PayloadTooLarge("request body is too large")
        return _limited(request.content, max_body)
    return None


async def forward(
    session: aiohttp.ClientSession,
    origin: str,
    out: OutboundRequest,
    request: web.Request,
    *,
    max_body: int,
    extra_headers: CIMultiDict[str],
    clock: Callable[[], float],
    plan: AnswerPlan,
) -> tuple[web.StreamResponse, Forwarded]:
    """Never follows a redirect: the answer, redirects included, goes through ``plan`` to the client."""
    out.headers["Accept-Encoding"] = "identity"  # the gateway must read what the CRM answers
    data = request_payload(out, request, max_body)
    started = clock()
    try:
        upstream = await session.request(
            out.method,
            upstream_url(origin, out),
            headers=out.headers,
            data=data,
            allow_redirects=False,
            compress=None,
        )
    except (TimeoutError, aiohttp.ServerTimeoutError):
        raise GatewayTimeout("the CRM did not answer in time") from None
    except PayloadTooLarge:
        raise
    except (aiohttp.ClientError, OSError):
        raise BadGateway("the CRM could not be reached") from None
    try:
        relayed = await relay(upstream, request, plan, extra_headers)
        return relayed.response, Forwarded(relayed.status, clock() - started, relayed.bytes_out)
    except (TimeoutError, aiohttp.ServerTimeoutError):
        raise GatewayTimeout("the CRM did not answer in time") from None
    except aiohttp.ClientError:
        raise BadGateway("the CRM connection failed") from None
    finally:
        upstream.release()
