"""A sandbox CiviCRM site: the real endpoints, the real credential checks, a small in-memory database.

Endpoints (any base path): ``.../extern/rest.php`` (v3), ``.../wp-json/civicrm/v3/rest`` (WordPress
REST, also ``?rest_route=``), and the ``CRM_Core_Invoke`` routes ``civicrm/ajax/rest`` (v3),
``civicrm/ajax/api4/<Entity>/<action>`` and ``civicrm/ajax/api4`` (batch ``calls``), found in the
path (clean URLs) or in ``?q=`` (Drupal 7, WordPress ``?page=CiviCRM``) or ``?task=`` (Joomla
``?option=com_civicrm``). Credentials are checked as :mod:`gateway.sandbox.civicrm_auth` describes.

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
from xml.sax.saxutils import escape

from aiohttp import web

from gateway.sandbox import answer_modes
from gateway.sandbox.civicrm_auth import (
    WEB_SERVICE_FLOWS,
    Login,
    PhpRequest,
    Refusal,
    V3Failure,
    authenticate_invoke,
    authenticate_rest_php,
    authenticate_wp_rest,
    parse_body,
    php_empty,
    php_json,
    php_parse,
    php_str,
    server_error,
    wp_params,
)
from gateway.sandbox.civicrm_jwt import parse_sign_keys
from gateway.sandbox.civicrm_store import (
    ApiError,
    CiviSandboxConfig,
    CiviStore,
    SandboxContact,
    v3_call,
    v3_error,
    v4_call,
)
from gateway.sandbox.civicrm_v4page import UnknownAction, params_from_request
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
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_DENIED = "You do not have permission to access this page."
_XHR_V3 = "SECURITY ALERT: Ajax requests can only be issued by javascript clients, eg. CRM.api3()."
_XHR_V4 = "SECURITY ALERT: Ajax requests can only be issued by javascript clients, eg. CRM.api4()."
_GET_V4 = "SECURITY: All requests that modify the database must be http POST, not GET."


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


def _identified(response: web.Response, login: Login | None) -> web.Response:
    if login is not None:
        response.headers["X-Sandbox-Contact-Id"] = str(login.contact.id)
        response.headers["X-Sandbox-Auth-Flow"] = login.flow
        response.headers["X-Sandbox-Cred-Type"] = login.cred_type
    return response


def _json(value: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=php_json(value), content_type="application/json")


def _v3_answer(result: Any, req: PhpRequest, login: Login | None) -> web.Response:
    text, mime = v3_render(result, not php_empty(req.request.get("json")))
    return _identified(web.Response(text=text, content_type=mime), login)


def _rest_php(config: CiviSandboxConfig, store: CiviStore, req: PhpRequest) -> web.Response:
    try:
        login = authenticate_rest_php(config, req)
    except V3Failure as failure:
        return _v3_answer(failure.result, req, None)
    if login is None:
        return _v3_answer({"is_error": 0, "message": "PONG: "}, req, None)
    params = req.request
    entity, action = php_str(params.get("entity")), php_str(params.get("action"))
    q = php_str(params.get("fnName")) or php_str(params.get("q"))
    if php_empty(entity) and q:
        args = q.split("/")
        if len(args) != 3 or args[0] != "civicrm":
            return _v3_answer(v3_error("Unknown function invocation."), req, login)
        entity, action = args[1], args[2]
    try:
        api_params = _build_param_list(params)
    except ValueError:
        return _v3_answer(v3_error("Unable to decode supplied JSON."), req, login)
    return _v3_answer(v3_process(store, entity, action, api_params, req.method), req, login)


def _wp_rest(config: CiviSandboxConfig, store: CiviStore, req: PhpRequest) -> web.Response:
    login = authenticate_wp_rest(config, req)
    params = wp_params(req)
    api_params = {k: v for k, v in params.items() if k not in ("entity", "action", "key", "api_key")}
    raw_json = api_params.get("json")
    if raw_json is not None and not isinstance(raw_json, int | float) and not str(raw_json).strip().isdigit():
        decoded = raw_json if isinstance(raw_json, dict) else json.loads(str(raw_json))
        api_params = decoded if isinstance(decoded, dict) else {}
    result = v3_call(store, _munge(php_str(params["entity"])), _munge(php_str(params["action"])), api_params)
    if isinstance(result, dict) and isinstance(result.get("values"), dict):
        result = {**result, "values": list(result["values"].values())}
    text, mime = v3_render(result, "json" in params, wordpress=True)
    return _identified(web.Response(text=text, content_type=mime), login)


def _invoke(config: CiviSandboxConfig, store: CiviStore, req: PhpRequest) -> web.Response:
    login = authenticate_invoke(config, req)
    parts = req.route.split("/")
    if parts[:3] == ["civicrm", "ajax", "rest"] and len(parts) == 3:
        if login is None:
            return _json({"is_error": 1, "error_message": _DENIED}, 403)
        return _ajax_v3(store, req, login)
    if parts[:3] == ["civicrm", "ajax", "api4"]:
        if login is None:
            return _json({"error_code": 403, "error_message": _DENIED, "status": 403}, 403)
        return _identified(_ajax_v4(store, req, login, parts[3:]), login)
    return web.Response(status=404, text="Not Found")


def _web_service(req: PhpRequest, login: Login) -> bool:
    """``CRM_Utils_REST::isWebServiceRequest``."""
    return (
        req.method == "OPTIONS"
        or req.header("X-Requested-With") == "XMLHttpRequest"
        or login.flow in WEB_SERVICE_FLOWS
    )


def _ajax_v3(store: CiviStore, req: PhpRequest, login: Login) -> web.Response:
    params = req.request
    if not _web_service(req, login):
        error = {
            "is_error": 1,
            "error_message": _XHR_V3,
            "IP": "127.0.0.1",
            "level": "security",
            "referer": req.header("Referer"),
            "reason": "CSRF suspected",
        }
        return _identified(_json(error), login)
    fn_name = php_str(params.get("fnName"))
    if fn_name:
        args = fn_name.split("/")
        if len(args) != 3:
            return _v3_answer({"is_error": 1, "error_message": "Unknown function invocation."}, req, login)
        entity, action = args[1], args[2]
    else:
        entity, action = php_str(params.get("entity")), php_str(params.get("action"))
        if php_empty(entity) or php_empty(action):
            missing = {"error_message": 'missing mandatory params "entity=" or "action="', "is_error": 1}
            return _v3_answer(missing, req, login)
    try:
        if entity == "api3":
            calls = json.loads(php_str(params.get("json")))
            result: Any = {
                key: v3_process(store, str(call[0]), str(call[1]), (call[2:] or [{}])[0], req.method)
                for key, call in calls.items()
            }
        else:
            result = v3_process(store, entity, action, _build_param_list(params), req.method)
    except (ValueError, AttributeError, IndexError, TypeError, KeyError):
        raise server_error() from None
    return _v3_answer(result, req, login)


def _ajax_v4(store: CiviStore, req: PhpRequest, login: Login, rest: list[str]) -> web.Response:
    entity, action = [*rest, "", ""][:2]
    if not _web_service(req, login):
        return _json({"error_code": 400, "error_message": _XHR_V4}, 400)
    if req.method == "GET" and action != "autocomplete" and action[:3].lower() != "get":
        return _json({"error_code": 405, "error_message": _GET_V4}, 405)
    if not entity:
        return _batch(store, req)
    raw = req.request.get("params")
    try:
        params = json.loads(php_str(raw)) if not php_empty(raw) else {}
    except ValueError:
        raise server_error() from None
    if not isinstance(params, dict):
        params = {}
    try:
        params = params_from_request(req.get, action, params)
    except UnknownAction:
        raise server_error() from None
    index = req.request.get("index")
    status, response = _execute(store, entity, action, params, index)
    return _json(response, status or 200)


def _batch(store: CiviStore, req: PhpRequest) -> web.Response:
    raw = req.post.get("calls")
    try:
        calls = json.loads(php_str(raw))
        items = calls.items() if isinstance(calls, dict) else enumerate(calls)
        status: int | None = None
        out: dict[Any, Any] = {}
        for key, call in items:
            code, out[key] = _execute(
                store, call[0], call[1], call[2] if len(call) > 2 else {}, call[3] if len(call) > 3 else None
            )
            status = 200 if code == 200 else (status or code)
    except (ValueError, TypeError, IndexError, KeyError):
        raise server_error() from None
    return _json(out if isinstance(calls, dict) else list(out.values()), status or 200)


def _execute(store: CiviStore, entity: Any, action: Any, params: Any, index: Any) -> tuple[int, Any]:
    """``CRM_Api4_Page_AJAX::execute``: a result, or an error body with its HTTP status."""
    try:
        if not isinstance(params, dict):
            raise ApiError("params must be an object")
        params = {k: v for k, v in params.items() if k != "checkPermissions"}
        result = v4_call(store, str(entity), str(action), params)
    except ApiError as error:
        return error.status, {"error_code": 0, "error_message": error.message, "status": error.status}
    values = result["values"]
    if index is not None and str(index).lstrip("-").isdigit():
        position = int(index)
        result["values"] = values[position] if -len(values) <= position < len(values) else None
    elif index is not None:
        result["values"] = {php_str(row.get(str(index))): row for row in values}
    return 200, result


def _munge(name: str) -> str:
    """``CRM_Utils_String::munge``: runs of non-alphanumerics become ``_``, at most 63 characters."""
    return re.sub(r"[^a-zA-Z0-9]+", "_", name.strip())[:63]


def _build_param_list(request: dict[str, Any]) -> dict[str, Any]:
    """``CRM_Utils_REST::buildParamList``: ``json={...}`` as the base, other params override it."""
    params: dict[str, Any] = {}
    raw = request.get("json")
    if isinstance(raw, str) and raw.startswith("{"):
        decoded = json.loads(raw)
        params = decoded if isinstance(decoded, dict) else {}
    skip = ("q", "json", "key", "api_key", "entity", "action", "_authx")
    params.update({k: v for k, v in request.items() if k not in skip})
    return params


def v3_process(store: CiviStore, entity: str, action: str, params: Any, method: str) -> Any:
    """``CRM_Utils_REST::process``: the REST-level refusals, then the API call."""
    if not isinstance(params, dict):
        params = {}
    if "className" in params:
        return v3_error("Unknown function invocation.")
    if php_str(params.get("version", 3)) == "2":
        return {
            "is_error": 1,
            "error_message": "FATAL: API v2 not accessible from ajax/REST",
            "deprecated": "Please upgrade to API v3",
        }
    entity, action = _munge(entity), _munge(action)
    if method == "GET" and action[:3].lower() != "get" and action.lower() != "check":
        return v3_error(
            "SECURITY: All requests that modify the database must be http POST, not GET.",
            IP="127.0.0.1",
            level="security",
            referer=None,
            reason="Destructive HTTP GET",
        )
    return v3_call(store, entity, action, params)


def v3_render(result: Any, as_json: bool, *, wordpress: bool = False) -> tuple[str, str]:
    """``CRM_Utils_REST::output``: JSON when ``json`` is set, else the ``<ResultSet>`` XML."""
    if not isinstance(result, dict):
        result = {"is_error": 0, "result": result if result else 0}
    hierarchical = any(isinstance(v, dict | list) for v in result.values())
    if not hierarchical and "is_error" not in result and not wordpress:
        result = {**result, "is_error": 0}
    if as_json:
        return php_json(result), "application/json"
    count = f' count="{result["count"]}" ' if "count" in result else ""
    xml = f'<?xml version="1.0"?>\n<ResultSet xmlns:xsi="{_XSI}" {count}>\n'
    if hierarchical:
        values = result.get("values")
        items = values.items() if isinstance(values, dict) else enumerate(values or [])
        for key, value in items:
            if isinstance(value, dict):
                xml += "<Result>\n" + _xml(value) + "</Result>\n"
            else:
                xml += f"<Result>\n<id>{key}</id><value>{escape(php_str(value))}</value></Result>\n"
    else:
        xml += "<Result>\n" + _xml(result) + "</Result>\n"
    return xml + "</ResultSet>\n", "text/xml"


def _xml(values: dict[str, Any] | list[Any], depth: int = 1) -> str:
    """``CRM_Utils_Array::xml``."""
    pad = " " * (depth * 4)
    out = ""
    for name, value in values.items() if isinstance(values, dict) else enumerate(values):
        if isinstance(value, dict | list):
            out += f"{pad}<{name}>\n{_xml(value, depth + 1)}{pad}</{name}>\n"
        else:
            text = "1" if value is True else "" if value in (None, False) else str(value)
            out += f"{pad}<{str(name).replace(' ', '_')}>{escape(text)}</{str(name).replace(' ', '_')}>\n"
    return out
