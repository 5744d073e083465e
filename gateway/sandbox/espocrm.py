"""A sandbox EspoCRM (8.4+/9/10 REST API) for the gateway's tests and demo.

Serves ``<base_path>/api/v1/...``. Every request is recorded (before authentication) in
``app[ESPO_RECEIVED]``; credentials are verified as the real server does (see espocrm_auth); every
answer given after a successful login carries ``X-Sandbox-User-Id``, and ``app[ESPO_CALLS]`` records the
user each call ran as (``X-Another-User`` included). Routing follows Slim: the
filtered path is ``rawurldecode``d, matched segment by segment (fixed segments case-sensitive), the
route arguments are ``rawurldecode``d once more and the controller is ``ucfirst()``-ed.

One deliberate difference: the real server answers an unknown route with 404 before authenticating;
the sandbox authenticates every API request first, so a signature is checked whatever the route.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from gateway.sandbox import answer_modes
from gateway.sandbox.espocrm_auth import AuthRequest, EspoAuthenticator, EspoUser, Refusal, Session
from gateway.sandbox.espocrm_store import ENTITY_TYPES, EspoError, EspoStore
from gateway.sandbox.received import ActedCall, ReceivedRequest
from gateway.signers.espo_path import filter_path, rawurldecode

__all__ = [
    "ESPO_AUTH",
    "ESPO_CALLS",
    "ESPO_CONFIG",
    "ESPO_RECEIVED",
    "ESPO_STORE",
    "EspoSandboxConfig",
    "EspoUser",
    "api_base",
    "attachment_content",
    "build_espo_app",
]

USER_ID_HEADER = "X-Sandbox-User-Id"
_CHUNK = bytes(range(256)) * 1024
_UNPRINTABLE = re.compile(r"[^ \t\x21-\x7e]")


@dataclass
class EspoSandboxConfig:
    users: list[EspoUser]
    base_path: str = ""
    max_failed_logins: int = 10
    attachment_size: int = 1024
    delay_seconds: float = 0.0
    clock: Callable[[], float] = time.time
    lockout_window_seconds: float = 60.0
    """EspoCRM's ``authFailedAttemptsPeriod`` (default 60 seconds)."""
    another_user_disabled: bool = False
    """EspoCRM's ``authAnotherUserDisabled``: refuse every ``X-Another-User``."""


ESPO_RECEIVED = web.AppKey("espo_received", list[ReceivedRequest])
ESPO_CALLS = web.AppKey("espo_calls", list[ActedCall])
ESPO_CONFIG = web.AppKey("espo_config", EspoSandboxConfig)
ESPO_STORE = web.AppKey("espo_store", EspoStore)
ESPO_AUTH = web.AppKey("espo_auth", EspoAuthenticator)


def attachment_content(size: int) -> bytes:
    """The bytes ``GET /Attachment/file/<id>`` streams for a configured ``attachment_size``."""
    return (_CHUNK * (size // len(_CHUNK) + 1))[:size]


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


def _ucfirst(name: str) -> str:
    return name[0].upper() + name[1:] if name[:1].isascii() and name[:1].isalpha() else name


@dataclass
class _Call:
    request: web.Request
    store: EspoStore
    session: Session
    args: dict[str, str]
    body: bytes
    config: EspoSandboxConfig
    query: dict[str, str] = field(default_factory=dict)

    @property
    def entity(self) -> str:
        entity = _ucfirst(self.args["controller"])
        if entity not in ENTITY_TYPES:
            raise EspoError(404, f"Controller '{entity}' does not exist.")
        return entity

    def data(self) -> Any:
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except ValueError:
            raise EspoError(400, "Bad JSON payload.") from None


Handler = Callable[[_Call], Awaitable[web.StreamResponse]]


def _json(data: Any) -> web.Response:
    return web.json_response(data)


async def _app_user(call: _Call) -> web.StreamResponse:
    user = call.session.user
    kind = "api" if user.is_api else "admin" if user.is_admin else "regular"
    return _json(
        {
            "user": {
                "id": user.id,
                "userName": user.user_name,
                "name": user.user_name,
                "type": kind,
                "isAdmin": user.is_admin,
            },
            "acl": {"table": {entity: True for entity in ENTITY_TYPES}},
            "preferences": {},
            "token": call.session.token,
            "settings": {},
            "language": "en_US",
            "appParams": {},
        }
    )


async def _global_search(call: _Call) -> web.StreamResponse:
    return _json(call.store.global_search(call.query))


async def _mass_action(call: _Call) -> web.StreamResponse:
    return _json(call.store.mass_action(call.data()))


async def _export(call: _Call) -> web.StreamResponse:
    return _json(call.store.export(call.data()))


async def _attachment(call: _Call) -> web.StreamResponse:
    headers = {USER_ID_HEADER: call.session.user.id, "Content-Disposition": 'attachment; filename="file"'}
    exported = call.store.exports.get(call.args["id"])
    if exported is not None:
        return web.Response(body=exported, content_type="text/csv", headers=headers)
    response = web.StreamResponse(headers=headers)
    response.content_type = "application/octet-stream"
    response.content_length = remaining = call.config.attachment_size
    await response.prepare(call.request)
    while remaining > 0:
        piece = _CHUNK if remaining >= len(_CHUNK) else _CHUNK[:remaining]
        await response.write(piece)
        remaining -= len(piece)
    await response.write_eof()
    return response


async def _action(call: _Call) -> web.StreamResponse:
    entity = call.entity
    if (entity, call.args["action"], call.request.method) != ("Lead", "convert", "POST"):
        raise EspoError(404, f"Action '{call.args['action']}' does not exist for '{entity}'.")
    return _json(call.store.convert_lead(call.data()))


async def _list(call: _Call) -> web.StreamResponse:
    if (
        _ucfirst(call.args["controller"]) == "User"
    ):  # users live in the authenticator, not in the record store
        return _json(call.store.page([user.record() for user in call.config.users], call.query))
    return _json(call.store.list_records(call.entity, call.query))


async def _create(call: _Call) -> web.StreamResponse:
    return _json(call.store.create(call.entity, call.data()))


async def _read(call: _Call) -> web.StreamResponse:
    return _json(call.store.read(call.entity, call.args["id"]))


async def _update(call: _Call) -> web.StreamResponse:
    return _json(call.store.update(call.entity, call.args["id"], call.data()))


async def _delete(call: _Call) -> web.StreamResponse:
    return _json(call.store.delete(call.entity, call.args["id"]))


async def _linked(call: _Call) -> web.StreamResponse:
    return _json(call.store.list_linked(call.entity, call.args["id"], call.args["link"], call.query))


async def _link(call: _Call) -> web.StreamResponse:
    return _json(call.store.relate(call.entity, call.args["id"], call.args["link"], call.data()))


async def _unlink(call: _Call) -> web.StreamResponse:
    entity, args = call.entity, call.args
    return _json(call.store.relate(entity, args["id"], args["link"], call.data(), unlink=True))


ROUTES: list[tuple[str, tuple[str, ...], Handler]] = [
    # static routes first, as FastRoute matches them before any variable route
    ("GET", ("App", "user"), _app_user),
    ("GET", ("GlobalSearch",), _global_search),
    ("POST", ("MassAction",), _mass_action),
    ("POST", ("Export",), _export),
    ("GET", ("Attachment", "file", ":id"), _attachment),
    *[(method, (":controller", "action", ":action"), _action) for method in ("GET", "POST", "PUT")],
    ("GET", (":controller", ":id"), _read),
    ("GET", (":controller",), _list),
    ("POST", (":controller",), _create),
    ("PUT", (":controller", ":id"), _update),
    ("PATCH", (":controller", ":id"), _update),
    ("DELETE", (":controller", ":id"), _delete),
    ("GET", (":controller", ":id", ":link"), _linked),
    ("POST", (":controller", ":id", ":link"), _link),
    ("DELETE", (":controller", ":id", ":link"), _unlink),
]


def _match(pattern: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    if len(pattern) != len(segments):
        return None
    args: dict[str, str] = {}
    for expected, segment in zip(pattern, segments, strict=True):
        if expected.startswith(":"):
            if not segment:
                return None
            args[expected[1:]] = rawurldecode(segment)
        elif expected != segment:
            return None
    return args


def resolve(method: str, resource_path: str) -> tuple[Handler, dict[str, str]] | EspoError:
    """The handler and route arguments for a filtered resource path, or the 404/405 Slim gives."""
    decoded = rawurldecode(resource_path)
    if not decoded.startswith("/"):
        return EspoError(404, "Not found.")
    segments = decoded[1:].split("/")
    wanted = "GET" if method == "HEAD" else method
    other_method = False
    for route_method, pattern, handler in ROUTES:
        args = _match(pattern, segments)
        if args is None:
            continue
        if route_method == wanted:
            return handler, args
        other_method = True
    return EspoError(405, "Method not allowed.") if other_method else EspoError(404, "Not found.")


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
    call = _Call(request, request.app[ESPO_STORE], session, args, body, config, dict(query.items()))
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
