"""``CRM_Utils_REST`` in the sandbox CiviCRM: the v3 REST refusals before an API call, the parameter
list, and the output (JSON or the ``<ResultSet>`` XML), with the sandbox's who-was-seen headers."""

from __future__ import annotations

import json
import re
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

from gateway.sandbox.civicrm_api3 import v3_call, v3_error
from gateway.sandbox.civicrm_auth import Login
from gateway.sandbox.civicrm_php import PhpRequest, php_empty, php_json, php_str
from gateway.sandbox.civicrm_store import CiviStore

_XSI = "http://www.w3.org/2001/XMLSchema-instance"


def identified(response: web.Response, login: Login | None) -> web.Response:
    if login is not None:
        response.headers["X-Sandbox-Contact-Id"] = str(login.contact.id)
        response.headers["X-Sandbox-Auth-Flow"] = login.flow
        response.headers["X-Sandbox-Cred-Type"] = login.cred_type
    return response


def json_answer(value: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=php_json(value), content_type="application/json")


def v3_answer(result: Any, req: PhpRequest, login: Login | None) -> web.Response:
    text, mime = v3_render(result, not php_empty(req.request.get("json")))
    return identified(web.Response(text=text, content_type=mime), login)


def munge(name: str) -> str:
    """``CRM_Utils_String::munge``: runs of non-alphanumerics become ``_``, at most 63 characters."""
    return re.sub(r"[^a-zA-Z0-9]+", "_", name.strip())[:63]


def build_param_list(request: dict[str, Any]) -> dict[str, Any]:
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
    entity, action = munge(entity), munge(action)
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
