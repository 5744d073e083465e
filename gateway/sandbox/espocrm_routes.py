"""The sandbox EspoCRM's API routes: Slim's route table (static routes first), its matching, and the
controller actions behind it, answering from the record store."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from gateway.sandbox.espocrm_config import EspoSandboxConfig
from gateway.sandbox.espocrm_request import Session
from gateway.sandbox.espocrm_store import ENTITY_TYPES, EspoError, EspoStore
from gateway.signers.espo_path import rawurldecode

USER_ID_HEADER = "X-Sandbox-User-Id"
_CHUNK = bytes(range(256)) * 1024


def attachment_content(size: int) -> bytes:
    """The bytes ``GET /Attachment/file/<id>`` streams for a configured ``attachment_size``."""
    return (_CHUNK * (size // len(_CHUNK) + 1))[:size]


def _ucfirst(name: str) -> str:
    return name[0].upper() + name[1:] if name[:1].isascii() and name[:1].isalpha() else name


@dataclass
class Call:
    """One routed API call: what a controller action reads."""

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


Handler = Callable[[Call], Awaitable[web.StreamResponse]]


def _json(data: Any) -> web.Response:
    return web.json_response(data)


async def _app_user(call: Call) -> web.StreamResponse:
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


async def _global_search(call: Call) -> web.StreamResponse:
    return _json(call.store.global_search(call.query))


async def _mass_action(call: Call) -> web.StreamResponse:
    return _json(call.store.mass_action(call.data()))


async def _export(call: Call) -> web.StreamResponse:
    return _json(call.store.export(call.data()))


async def _attachment(call: Call) -> web.StreamResponse:
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


async def _action(call: Call) -> web.StreamResponse:
    entity = call.entity
    if (entity, call.args["action"], call.request.method) != ("Lead", "convert", "POST"):
        raise EspoError(404, f"Action '{call.args['action']}' does not exist for '{entity}'.")
    return _json(call.store.convert_lead(call.data()))


async def _list(call: Call) -> web.StreamResponse:
    if (
        _ucfirst(call.args["controller"]) == "User"
    ):  # users live in the authenticator, not in the record store
        return _json(call.store.page([user.record() for user in call.config.users], call.query))
    return _json(call.store.list_records(call.entity, call.query))


async def _create(call: Call) -> web.StreamResponse:
    return _json(call.store.create(call.entity, call.data()))


async def _read(call: Call) -> web.StreamResponse:
    return _json(call.store.read(call.entity, call.args["id"]))


async def _update(call: Call) -> web.StreamResponse:
    return _json(call.store.update(call.entity, call.args["id"], call.data()))


async def _delete(call: Call) -> web.StreamResponse:
    return _json(call.store.delete(call.entity, call.args["id"]))


async def _linked(call: Call) -> web.StreamResponse:
    return _json(call.store.list_linked(call.entity, call.args["id"], call.args["link"], call.query))


async def _link(call: Call) -> web.StreamResponse:
    return _json(call.store.relate(call.entity, call.args["id"], call.args["link"], call.data()))


async def _unlink(call: Call) -> web.StreamResponse:
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
