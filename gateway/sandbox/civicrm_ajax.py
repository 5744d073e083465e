"""The sandbox CiviCRM's AJAX pages: ``civicrm/ajax/rest`` (v3) and ``civicrm/ajax/api4`` (one call, or
a batch of ``calls``), with their CSRF and HTTP-method refusals (``CRM_Api4_Page_AJAX``)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from gateway.sandbox.civicrm_api4 import v4_call
from gateway.sandbox.civicrm_auth import Login
from gateway.sandbox.civicrm_authx import WEB_SERVICE_FLOWS
from gateway.sandbox.civicrm_php import PhpRequest, php_empty, php_str, server_error
from gateway.sandbox.civicrm_rest import build_param_list, identified, json_answer, v3_answer, v3_process
from gateway.sandbox.civicrm_store import ApiError, CiviStore
from gateway.sandbox.civicrm_v4page import UnknownAction, params_from_request

_XHR_V3 = "SECURITY ALERT: Ajax requests can only be issued by javascript clients, eg. CRM.api3()."
_XHR_V4 = "SECURITY ALERT: Ajax requests can only be issued by javascript clients, eg. CRM.api4()."
_GET_V4 = "SECURITY: All requests that modify the database must be http POST, not GET."


def web_service(req: PhpRequest, login: Login) -> bool:
    """``CRM_Utils_REST::isWebServiceRequest``."""
    return (
        req.method == "OPTIONS"
        or req.header("X-Requested-With") == "XMLHttpRequest"
        or login.flow in WEB_SERVICE_FLOWS
    )


def ajax_v3(store: CiviStore, req: PhpRequest, login: Login) -> web.Response:
    params = req.request
    if not web_service(req, login):
        error = {
            "is_error": 1,
            "error_message": _XHR_V3,
            "IP": "127.0.0.1",
            "level": "security",
            "referer": req.header("Referer"),
            "reason": "CSRF suspected",
        }
        return identified(json_answer(error), login)
    fn_name = php_str(params.get("fnName"))
    if fn_name:
        args = fn_name.split("/")
        if len(args) != 3:
            return v3_answer({"is_error": 1, "error_message": "Unknown function invocation."}, req, login)
        entity, action = args[1], args[2]
    else:
        entity, action = php_str(params.get("entity")), php_str(params.get("action"))
        if php_empty(entity) or php_empty(action):
            missing = {"error_message": 'missing mandatory params "entity=" or "action="', "is_error": 1}
            return v3_answer(missing, req, login)
    try:
        if entity == "api3":
            calls = json.loads(php_str(params.get("json")))
            result: Any = {
                key: v3_process(store, str(call[0]), str(call[1]), (call[2:] or [{}])[0], req.method)
                for key, call in calls.items()
            }
        else:
            result = v3_process(store, entity, action, build_param_list(params), req.method)
    except (ValueError, AttributeError, IndexError, TypeError, KeyError):
        raise server_error() from None
    return v3_answer(result, req, login)


def ajax_v4(store: CiviStore, req: PhpRequest, login: Login, rest: list[str]) -> web.Response:
    entity, action = [*rest, "", ""][:2]
    if not web_service(req, login):
        return json_answer({"error_code": 400, "error_message": _XHR_V4}, 400)
    if req.method == "GET" and action != "autocomplete" and action[:3].lower() != "get":
        return json_answer({"error_code": 405, "error_message": _GET_V4}, 405)
    if not entity:
        return batch(store, req)
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
    status, response = execute(store, entity, action, params, index)
    return json_answer(response, status or 200)


def batch(store: CiviStore, req: PhpRequest) -> web.Response:
    raw = req.post.get("calls")
    try:
        calls = json.loads(php_str(raw))
        items = calls.items() if isinstance(calls, dict) else enumerate(calls)
        status: int | None = None
        out: dict[Any, Any] = {}
        for key, call in items:
            code, out[key] = execute(
                store, call[0], call[1], call[2] if len(call) > 2 else {}, call[3] if len(call) > 3 else None
            )
            status = 200 if code == 200 else (status or code)
    except (ValueError, TypeError, IndexError, KeyError):
        raise server_error() from None
    return json_answer(out if isinstance(calls, dict) else list(out.values()), status or 200)


def execute(store: CiviStore, entity: Any, action: Any, params: Any, index: Any) -> tuple[int, Any]:
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
