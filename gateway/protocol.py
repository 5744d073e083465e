"""The gateway's HTTP connection handling: aiohttp's protocol with limits and quiet, fixed refusals.

- A request aiohttp cannot parse gets a fixed ``400 Bad Request`` (never the offending bytes echoed:
  they may hold a token), is counted in ``crmgw_malformed_requests_total{kind}`` and logged as one
  short line without traceback, at most ``LOG_LINES`` per ``LOG_WINDOW`` seconds.
- ``header_timeout``: a request head must be complete this many seconds after its first byte.
- ``keepalive_timeout``: an idle connection (no request started) is closed after this many seconds.
- ``max_connections``: connections beyond it get a fixed 503 and are closed at once.
- Handler cancellation is on: a request whose client hung up is cancelled, so it frees its
  concurrency slot and queue place.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, cast

from aiohttp import http_exceptions as hx
from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from gateway.observability.metrics import GatewayMetrics
from gateway.observability.throttle import LogThrottle

log = logging.getLogger("gateway.http")

LOG_LINES: Final = 5
LOG_WINDOW: Final = 10.0
BAD_REQUEST_BODY: Final = "400 Bad Request: the request is not valid HTTP/1.1\n"
INTERNAL_ERROR_BODY: Final = "500 Internal Server Error\n"
TOO_MANY_CONNECTIONS: Final = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 24\r\n"
    b"Connection: close\r\nRetry-After: 1\r\n\r\n503 too many connections"
)


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    keepalive_timeout: float = 75.0
    header_timeout: float = 10.0
    max_connections: int = 1000


class _Shared:
    """What every connection of one server shares: the limits, the count, the metrics, the log budget."""

    def __init__(self, limits: ConnectionLimits, metrics: GatewayMetrics | None) -> None:
        self.limits = limits
        self.metrics = metrics
        self.open = 0
        self.throttle = LogThrottle(LOG_LINES, LOG_WINDOW)

    def refused(self, kind: str, remote: object, detail: str = "") -> None:
        if self.metrics is not None:
            self.metrics.malformed_request(kind)
        allowed, held = self.throttle.allow()
        if allowed:
            more = f" ({held} similar lines suppressed)" if held else ""
            log.warning("refused a request from %s: %s%s%s", remote, kind, detail, more)


def malformed_kind(exc: BaseException | None) -> str:
    if isinstance(exc, hx.BadHttpMethod):
        return "bad-method"
    if isinstance(exc, hx.LineTooLong):
        return "too-large"
    if isinstance(exc, hx.PayloadEncodingError):
        return "bad-body"
    if isinstance(exc, hx.BadStatusLine | hx.InvalidURLError):
        return "bad-request-line"
    if isinstance(exc, hx.BadHttpMessage) and "'Host'" in str(exc.message):
        return "missing-host"
    if isinstance(exc, hx.InvalidHeader | hx.BadHttpMessage):
        return "bad-header"
    return "other"


class GatewayProtocol(RequestHandler):
    def __init__(self, manager: web.Server, *, shared: _Shared, **kwargs: Any) -> None:
        super().__init__(manager, keepalive_timeout=shared.limits.keepalive_timeout, **kwargs)
        self._shared = shared
        self._counted = False
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        shared = self._shared
        if shared.open >= shared.limits.max_connections:
            shared.refused("connection-limit", self.peername)
            if self.transport is not None:
                self.transport.write(TOO_MANY_CONNECTIONS)
            self.force_close()
            return
        shared.open += 1
        self._counted = True

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._counted:
            self._counted = False
            self._shared.open -= 1
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        idle = self._waiter is not None and not self._waiter.done()
        if idle and self._head_timer is None and data:
            self._head_timer = self._loop.call_later(self._shared.limits.header_timeout, self._head_late)
        super().data_received(data)
        if self._waiter is None or self._waiter.done():
            self._cancel_head_timer()

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if self._waiter is not None and not self._waiter.done():
            self._shared.refused("header-timeout", self.peername)
            self.force_close()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("the response had started; the connection is closed")
        if status >= 500:
            body = INTERNAL_ERROR_BODY if status == 500 else f"{status}\n"
            name = type(exc).__name__ if exc is not None else "error"
            self._shared.refused("other", request.remote, f" ({name}, status {status})")
        else:
            body = BAD_REQUEST_BODY if status == 400 else f"{status}\n"
            self._shared.refused(malformed_kind(exc), request.remote)
        resp = web.Response(status=status, text=body, content_type="text/plain")
        resp.force_close()
        return resp


class GatewayServer(web.Server):
    def __init__(self, *args: Any, shared: _Shared, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shared = shared

    def __call__(self) -> RequestHandler:
        return GatewayProtocol(self, loop=self._loop, shared=self._shared, **self._kwargs)


RawHandler = Callable[[BaseRequest], Awaitable[web.StreamResponse]]
Dispatch = Callable[[web.Application, Handler], Handler]
"""Given the started app and its own request handler, the handler the listener runs instead."""


class GatewayRunner(web.AppRunner):
    """``web.AppRunner`` whose connections are ``GatewayProtocol``s with handler cancellation on."""

    def __init__(
        self,
        app: web.Application,
        *,
        limits: ConnectionLimits,
        metrics: GatewayMetrics | None = None,
        dispatch: Dispatch | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(app, access_log=None, handle_signals=False, **kwargs)
        self._shared = _Shared(limits, metrics)
        self._dispatch = dispatch

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()  # starts and freezes the app
        handler = plain.request_handler
        if self._dispatch is not None:  # the app's handler takes the web.Request its request_factory makes
            handler = cast(RawHandler, self._dispatch(self.app, cast(Handler, handler)))
        return GatewayServer(
            handler,
            request_factory=plain.request_factory,
            handler_cancellation=True,
            loop=asyncio.get_running_loop(),
            shared=self._shared,
            **plain._kwargs,
        )
