"""A sandbox EspoCRM (8.4+/9/10 REST API) for the gateway's tests and demo.

Serves ``<base_path>/api/v1/...``. Every request is recorded (before authentication) in
``app[ESPO_RECEIVED]``; credentials are verified as the real server does (see espocrm_auth); every
answer given after a successful login carries ``X-Sandbox-User-Id``, and ``app[ESPO_CALLS]`` records the
user each call ran as (``X-Another-User`` included). Routing follows Slim (see espocrm_routes): the
filtered path is ``rawurldecode``d, matched segment by segment (fixed segments case-sensitive), the
route arguments are ``rawurldecode``d once more and the controller is ``ucfirst()``-ed.

One deliberate difference: the real server answers an unknown route with 404 before authenticating;
the sandbox authenticates every API request first, so a signature is checked whatever the route.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping

from aiohttp import web

from gateway.sandbox import answer_modes
from gateway.sandbox.espocrm_auth import EspoAuthenticator
from gateway.sandbox.espocrm_config import EspoSandboxConfig, EspoUser
from gateway.sandbox.espocrm_request import AuthRequest, Refusal, Session
from gateway.sandbox.espocrm_routes import USER_ID_HEADER, Call, resolve
from gateway.sandbox.espocrm_store import EspoError, EspoStore
from gateway.sandbox.received import ActedCall, ReceivedRequest
from gateway.signers.espo_path import filter_path

__all__ = [
    "ESPO_AUTH",
    "ESPO_CALLS",
    "ESPO_CONFIG",
    "ESPO_RECEIVED",
    "ESPO_STORE",
    "EspoSandboxConfig",
    "EspoUser",
    "api_base",
    "build_espo_app",
]

_UNPRINTABLE = re.compile(r"[^ \t\x21-\x7e]")


ESPO_RECEIVED = web.AppKey("espo_received", list[ReceivedRequest])
ESPO_CALLS = web.AppKey("espo_calls", list[ActedCall])
ESPO_CONFIG = web.AppKey("espo_config", EspoSandboxConfig)
ESPO_STORE = web.AppKey("espo_store", EspoStore)
ESPO_AUTH = web.AppKey("espo_auth", EspoAuthenticator)


def api_base(raw_path: str, base_path: str) -> str | None:
    """The API base path the server detects (``.../api/v1`` or ``.../api/v1/index.php``), else None."""
    script_dir = base_path.rstrip("/") + "/api/v1"
    for base in (script_dir + "/index.php", script_dir):
        if raw_path == base or raw_path.startswith(base + "/"):
            return base
    return None


def _error(status: int, reason: str) -> web.Response:
    reason = _UNPRINTABLE.sub(" ", reason)
    return web.json_response({"message": reason}, status=status, headers={"X-Status-Reason": reason})


def _refused(refusal: Refusal) -> web.Response:
    if refusal.reason is not None:
        return _error(refusal.status, refusal.reason)
    return web.Response(status=refusal.status, headers=refusal.headers)


async def _handle(request: web.Request) -> web.StreamResponse:
    app = request.app
    config = app[ESPO_CONFIG]
    body = await request.read()
    headers = {name: ", ".join(request.headers.getall(name)) for name in request.headers}
    app[ESPO_RECEIVED].append(ReceivedRequest(request.method, request.raw_path, headers, body))
    if config.delay_seconds > 0:
        await asyncio.sleep(config.delay_seconds)
    raw_path = request.raw_path.partition("?")[0]
    if raw_path.startswith("//"):
        return _error(400, "Malformed request path.")
    base = api_base(raw_path, config.base_path)
    if base is None:
        return _error(404, "Not found.")
    resource = filter_path(raw_path)[len(base) :]
    outcome = app[ESPO_AUTH].authenticate(
        AuthRequest(request.method, resource, request.headers, request.cookies, request.remote or "")
    )
    if isinstance(outcome, Refusal):
        return _refused(outcome)
    logged_in = outcome.logged_in or outcome.user
    call = ActedCall(outcome.user.user_name, logged_in.user_name, request.method, resource)
    app[ESPO_CALLS].append(call)
    response = await _dispatch(request, config, outcome, resource, body)
    if not response.prepared:
        response.headers[USER_ID_HEADER] = outcome.user.id
    return response


async def _dispatch(
    request: web.Request, config: EspoSandboxConfig, session: Session, resource: str, body: bytes
) -> web.StreamResponse:
    route = resolve(request.method, resource)
    if isinstance(route, EspoError):
        return _error(route.status, route.reason)
    handler, args = route
    query: Mapping[str, str] = request.query
    call = Call(request, request.app[ESPO_STORE], session, args, body, config, dict(query.items()))
    try:
        return await handler(call)
    except EspoError as refusal:
        return _error(refusal.status, refusal.reason)


def build_espo_app(config: EspoSandboxConfig) -> web.Application:
    app = web.Application()
    app[ESPO_CONFIG] = config
    app[ESPO_RECEIVED] = []
    app[ESPO_CALLS] = []
    app[ESPO_STORE] = EspoStore(clock=config.clock)
    app[ESPO_AUTH] = EspoAuthenticator(
        config.users,
        config.max_failed_logins,
        config.lockout_window_seconds,
        config.clock,
        another_user_disabled=config.another_user_disabled,
    )
    app.router.add_route("*", "/{tail:.*}", _handle)
    answer_modes.install(app, espo=True)
    return app
