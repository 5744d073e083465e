"""Answer shapes real CRM deployments produce, switched on by the test that owns the sandbox (never by a
client request): ``configure(app, chunked=True, encoding="gzip")``.

- ``chunked``: the body in small pieces, no Content-Length (PHP behind nginx or Apache);
- ``encoding``: ``gzip``, ``deflate`` or any other label, applied whatever the request's Accept-Encoding
  (a server-wide ``zlib.output_compression`` or ``gzip on``); an unknown label sends the body as is;
- ``pad_bytes``: a JSON object answer grows a ``padding`` member of that many bytes (a large export);
- ``aliases``: each record of a JSON answer repeats its fields under join spellings (``contact_id.f``,
  ``c.f``, ``f:label``; for EspoCRM a link's ``fName`` next to its ``fId``), as joins, self-joins and
  link fields answer;
- ``redirect``: a 302 whose Location is the URL as the CRM received it, query included (a CMS canonical
  or login redirect), with a body that links to it;
- ``html_error``: a 500 HTML error page that prints the URL as received, query included.

The sandbox still verifies the credential and answers first; the mode reshapes that answer.
"""

from __future__ import annotations

import gzip
import html
import json
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

PIECE = 7
"""Chunk size in bytes for ``chunked``: small and odd so values straddle chunk boundaries."""


@dataclass(slots=True)
class AnswerModes:
    chunked: bool = False
    encoding: str | None = None
    pad_bytes: int = 0
    aliases: bool = False
    redirect: bool = False
    html_error: bool = False
    espo: bool = False


ANSWER_MODES = web.AppKey("answer_modes", AnswerModes)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def configure(app: web.Application, **modes: Any) -> None:
    """Set the sandbox's answer modes (the others back to their defaults); TypeError for an unknown one."""
    current = app[ANSWER_MODES]
    fresh = AnswerModes(espo=current.espo, **modes)
    for name in AnswerModes.__slots__:
        setattr(current, name, getattr(fresh, name))


def install(app: web.Application, *, espo: bool = False) -> None:
    app[ANSWER_MODES] = AnswerModes(espo=espo)
    app.middlewares.append(_reshape)


@web.middleware
async def _reshape(request: web.Request, handler: Handler) -> web.StreamResponse:
    answer = await handler(request)
    modes = request.app[ANSWER_MODES]
    url = f"{request.scheme}://{request.host}{request.raw_path}"  # exactly as received, query included
    if modes.redirect:
        page = f'<html><body>Moved to <a href="{html.escape(url)}">{html.escape(url)}</a></body></html>'
        return web.Response(status=302, headers={"Location": url}, text=page, content_type="text/html")
    if modes.html_error:
        page = f"<html><body><h1>Error</h1><p>While loading {html.escape(url)}</p><p>{url}</p></body></html>"
        return web.Response(status=500, text=page, content_type="text/html")
    if not isinstance(answer, web.Response) or not isinstance(answer.body, bytes):
        return answer
    body = answer.body
    if modes.aliases or modes.pad_bytes:
        body = _json_shapes(body, modes)
    if modes.encoding is not None:
        body = _encode(body, modes.encoding)
    headers = {k: v for k, v in answer.headers.items() if k.lower() not in ("content-length", "content-type")}
    if modes.encoding is not None:
        headers["Content-Encoding"] = modes.encoding
    if not modes.chunked:
        return web.Response(
            status=answer.status, headers=headers, body=body, content_type=answer.content_type
        )
    stream = web.StreamResponse(status=answer.status, headers=headers)
    stream.content_type = answer.content_type
    stream.enable_chunked_encoding()
    await stream.prepare(request)
    for start in range(0, len(body), PIECE):
        await stream.write(body[start : start + PIECE])
    await stream.write_eof()
    return stream


def _encode(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.compress(body)
    if encoding == "deflate":
        return zlib.compress(body)
    return body


def _json_shapes(body: bytes, modes: AnswerModes) -> bytes:
    try:
        parsed = json.loads(body)
    except ValueError:
        return body
    if modes.aliases:
        parsed = _alias(parsed, modes.espo)
    if modes.pad_bytes and isinstance(parsed, dict):
        parsed["padding"] = "x" * modes.pad_bytes
    return json.dumps(parsed).encode()


def _alias(value: Any, espo: bool) -> Any:
    if isinstance(value, list):
        return [_alias(v, espo) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        out[key] = _alias(item, espo)
        if isinstance(item, dict | list):
            continue
        if espo:
            spellings: tuple[str, ...] = (key[:-2] + "Name",) if key.endswith("Id") and len(key) > 2 else ()
        else:
            spellings = (f"contact_id.{key}", f"c.{key}", f"{key}:label")
        for spelling in spellings:
            out.setdefault(spelling, item)
    return out
