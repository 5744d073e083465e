"""A sandbox CiviCRM site: the real endpoints, the real credential checks, a small in-memory database.

Endpoints (any base path): ``.../extern/rest.php`` (v3), ``.../wp-json/civicrm/v3/rest`` (WordPress
REST, also ``?rest_route=``), and the ``CRM_Core_Invoke`` routes ``civicrm/ajax/rest`` (v3),
``civicrm/ajax/api4/<Entity>/<action>`` and ``civicrm/ajax/api4`` (batch ``calls``), found in the
path (clean URLs) or in ``?q=`` (Drupal 7, WordPress ``?page=CiviCRM``) or ``?task=`` (Joomla
``?option=com_civicrm``). Credentials are checked as :mod:`gateway.sandbox.civicrm_auth` and
:mod:`gateway.sandbox.civicrm_authx` describe.

Every answer to an authenticated call names who the site saw: ``X-Sandbox-Contact-Id``,
``X-Sandbox-Auth-Flow`` (``rest.php``, ``wp-rest``, ``legacyrest``, ``xheader``, ``header``, ``param``...)
and ``X-Sandbox-Cred-Type`` (``api_key``, ``jwt``, ``pass``); ``app[CIVI_CALLS]`` records the contact each
authenticated call ran as (AuthX's ``login`` sets ``userID`` and ``@civicrm_user_id``, which CiviCRM's
change log and ACLs then use).
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from aiohttp import web

from gateway.sandbox import answer_modes
from gateway.sandbox.civicrm_ajax import ajax_v3, ajax_v4
from gateway.sandbox.civicrm_api3 import v3_call, v3_error
from gateway.sandbox.civicrm_auth import V3Failure, authenticate_rest_php, authenticate_wp_rest, wp_params
from gateway.sandbox.civicrm_authx import authenticate_invoke
from gateway.sandbox.civicrm_config import CiviSandboxConfig, SandboxContact
from gateway.sandbox.civicrm_jwt import parse_sign_keys
from gateway.sandbox.civicrm_php import PhpRequest, Refusal, parse_body, php_empty, php_parse, php_str
from gateway.sandbox.civicrm_rest import (
    build_param_list,
    identified,
    json_answer,
    munge,
    v3_answer,
    v3_process,
    v3_render,
)
from gateway.sandbox.civicrm_store import CiviStore
from gateway.sandbox.received import ActedCall, ReceivedRequest

__all__ = [
    "CIVI_CALLS",
    "CIVI_CONFIG",
    "CIVI_RECEIVED",
    "CIVI_STORE",
    "CiviSandboxConfig",
    "ReceivedRequest",
    "SandboxContact",
    "build_civicrm_app",
]


CIVI_RECEIVED: web.AppKey[list[ReceivedRequest]] = web.AppKey("civi_received", list)
CIVI_CALLS: web.AppKey[list[ActedCall]] = web.AppKey("civi_calls", list)
CIVI_CONFIG: web.AppKey[CiviSandboxConfig] = web.AppKey("civi_config", CiviSandboxConfig)
CIVI_STORE: web.AppKey[CiviStore] = web.AppKey("civi_store", CiviStore)

_PATH_ROUTE = re.compile(r"/(civicrm/(?:ajax|authx)/.*)$")


_DENIED = "You do not have permission to access this page."


def build_civicrm_app(config: CiviSandboxConfig) -> web.Application:
    """The sandbox site. Raises ValueError for sign keys a real site could not load."""
    if config.sign_keys:
        parse_sign_keys(config.sign_keys)
    app = web.Application()
    app[CIVI_CONFIG] = config
    app[CIVI_RECEIVED] = []
    app[CIVI_CALLS] = []
    app[CIVI_STORE] = CiviStore(config.contacts)
    app.router.add_route("*", "/{tail:.*}", _handle)
    answer_modes.install(app)
    return app


async def _handle(request: web.Request) -> web.StreamResponse:
    response = await _answer(request)
    contact = response.headers.get("X-Sandbox-Contact-Id")
    if contact is not None:
        call = ActedCall(contact, contact, request.method, request.path)
        request.app[CIVI_CALLS].append(call)
    return response


async def _answer(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    headers = {name: ", ".join(request.headers.getall(name)) for name in request.headers}
    request.app[CIVI_RECEIVED].append(ReceivedRequest(request.method, request.raw_path, headers, body))
    config = request.app[CIVI_CONFIG]
    if config.delay_seconds > 0:
        await asyncio.sleep(config.delay_seconds)
    get = php_parse(request.rel_url.query.items())
    kind, route = _locate(request.path, get)
    if kind is None:
        return web.Response(status=404, text="Not Found")
    if kind == "ambiguous":
        return web.Response(status=400, text="Ambiguous route: the path and the query name different routes")
    post, json_body = parse_body(request.method, request.headers.get("Content-Type", ""), body)
    req = PhpRequest(request.method, route, get, post, request.headers, json_body)
    try:
        if kind == "rest.php":
            return _rest_php(config, request.app[CIVI_STORE], req)
        if kind == "wp-rest":
            return _wp_rest(config, request.app[CIVI_STORE], req)
        return _invoke(config, request.app[CIVI_STORE], req)
    except Refusal as refusal:
        mime = refusal.content_type.partition(";")[0]
        return web.Response(status=refusal.status, text=refusal.body, content_type=mime)


def _locate(path: str, get: dict[str, Any]) -> tuple[str | None, str]:
    if path.endswith("/extern/rest.php"):
        return "rest.php", ""
    if path.endswith("/wp-json/civicrm/v3/rest") or get.get("rest_route") == "/civicrm/v3/rest":
        return "wp-rest", ""
    in_path = _PATH_ROUTE.search(path)
    in_query = php_str(get.get("task") if get.get("option") == "com_civicrm" else get.get("q")).rstrip("/")
    if in_path is not None:
        route = in_path.group(1).rstrip("/")
        # Two routes (path and ?q=/?task=): which one a CMS runs differs; a gateway must never send this.
        return ("ambiguous" if in_query and in_query != route else "invoke"), route
    if path.endswith(("/", "/index.php", "/wp-admin/admin.php")) and in_query.startswith("civicrm/"):
        return "invoke", in_query
    return None, ""


def _rest_php(config: CiviSandboxConfig, store: CiviStore, req: PhpRequest) -> web.Response:
    try:
        login = authenticate_rest_php(config, req)
    except V3Failure as failure:
        return v3_answer(failure.result, req, None)
    if login is None:
        return v3_answer({"is_error": 0, "message": "PONG: "}, req, None)
    params = req.request
    entity, action = php_str(params.get("entity")), php_str(params.get("action"))
    q = php_str(params.get("fnName")) or php_str(params.get("q"))
    if php_empty(entity) and q:
        args = q.split("/")
        if len(args) != 3 or args[0] != "civicrm":
            return v3_answer(v3_error("Unknown function invocation."), req, login)
        entity, action = args[1], args[2]
    try:
        api_params = build_param_list(params)
    except ValueError:
        return v3_answer(v3_error("Unable to decode supplied JSON."), req, login)
    return v3_answer(v3_process(store, entity, action, api_params, req.method), req, login)


def _wp_rest(config: CiviSandboxConfig, store: CiviStore, req: PhpRequest) -> web.Response:
    login = authenticate_wp_rest(config, req)
    params = wp_params(req)
    api_params = {k: v for k, v in params.items() if k not in ("entity", "action", "key", "api_key")}
    raw_json = api_params.get("json")
    if raw_json is not None and not isinstance(raw_json, int | float) and not str(raw_json).strip().isdigit():
        decoded = raw_json if isinstance(raw_json, dict) else json.loads(str(raw_json))
        api_params = decoded if isinstance(decoded, dict) else {}
    result = v3_call(store, munge(php_str(params["entity"])), munge(php_str(params["action"])), api_params)
    if isinstance(result, dict) and isinstance(result.get("values"), dict):
        result = {**result, "values": list(result["values"].values())}
    text, mime = v3_render(result, "json" in params, wordpress=True)
    return identified(web.Response(text=text, content_type=mime), login)


def _invoke(config: CiviSandboxConfig, store: CiviStore, req: PhpRequest) -> web.Response:
    login = authenticate_invoke(config, req)
    parts = req.route.split("/")
    if parts[:3] == ["civicrm", "ajax", "rest"] and len(parts) == 3:
        if login is None:
            return json_answer({"is_error": 1, "error_message": _DENIED}, 403)
        return ajax_v3(store, req, login)
    if parts[:3] == ["civicrm", "ajax", "api4"]:
        if login is None:
            return json_answer({"error_code": 403, "error_message": _DENIED, "status": 403}, 403)
        return identified(ajax_v4(store, req, login, parts[3:]), login)
    return web.Response(status=404, text="Not Found")
