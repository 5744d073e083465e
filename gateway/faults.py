"""The last resort for a request: an exception that is not a refusal, and a client that went away.

Neither should happen on any input (the fuzz tests hold the gateway to that); when one does, the
client still gets an answer in its dialect with a fixed message (no exception text: it may hold
request data), the log gets one line (redacted like every line), and the access log its line.
"""

from __future__ import annotations

import logging
from typing import Final

from aiohttp import web

from gateway.errors import GatewayError
from gateway.exchange import Exchange, finish
from gateway.runtime import Runtime

log = logging.getLogger("gateway.faults")

CLIENT_CLOSED: Final = 499
"""Recorded (never sent) when the client hung up before its answer: nginx's "client closed request"."""


class InternalError(GatewayError):
    status = 500
    reason = "internal-error"


def unexpected(exc: Exception, ex: Exchange) -> GatewayError:
    """A refusal for an exception the request stages did not turn into one, logged once."""
    log.error(
        "request %s: unexpected %s while handling %s %s",
        ex.request_id,
        type(exc).__name__,
        ex.method,
        ex.route or "?",
        exc_info=exc,
    )
    return InternalError("the gateway failed to handle this request")


def client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def record_client_closed(rt: Runtime, ex: Exchange, now: float) -> None:
    """The access line and metrics of a request whose client hung up (status 499)."""
    ex.reason = "client-closed"
    if ex.decision in ("allow", "shadow-deny"):
        ex.decision = "error"
    finish(rt, ex, web.Response(status=CLIENT_CLOSED), now)
