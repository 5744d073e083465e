"""How the sandbox CiviCRM decides who is calling through its REST endpoints: a faithful replay of the
real server's checks.

- :func:`authenticate_rest_php`: ``extern/rest.php`` (``CRM_Utils_REST::loadCMSBootstrap``);
- :func:`authenticate_wp_rest`: ``wp-json/civicrm/v3/rest`` (civicrm-wordpress ``Plugin``/``Controller\\Rest``
  with WordPress' own argument validation in between).

Routes served by ``CRM_Core_Invoke`` (``civicrm/ajax/*``) authenticate in ``civicrm_authx``. Failures
raise :class:`Refusal` (already rendered) or :class:`V3Failure` (rendered by the endpoint).
"""

from __future__ import annotations

import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from gateway.sandbox.civicrm_config import CiviSandboxConfig, SandboxContact
from gateway.sandbox.civicrm_php import PhpRequest, Refusal, php_empty, php_json, php_str

_PHP_TRIM = " \t\n\r\0\x0b"


@dataclass(frozen=True)
class Login:
    contact: SandboxContact
    flow: str
    cred_type: str


class V3Failure(Exception):
    """A v3 REST error result (``is_error`` 1) the endpoint renders as JSON or XML, with HTTP 200."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.result = {"error_message": message, "is_error": 1}


def find_by_api_key(config: CiviSandboxConfig, api_key: str) -> SandboxContact | None:
    """``SELECT id FROM civicrm_contact WHERE api_key = %1``: case-insensitive collation, lowest id."""
    wanted = api_key.lower()
    hits = [c for c in config.contacts if c.api_key is not None and c.api_key.lower() == wanted]
    return min(hits, key=lambda c: c.id) if hits else None


def authenticate_key(config: CiviSandboxConfig, request: dict[str, Any]) -> bool:
    """``CRM_Utils_System::authenticateKey(FALSE)``: trimmed ``$_REQUEST['key']`` vs a >= 8 char site key."""
    key = php_str(request.get("key")).strip(_PHP_TRIM)
    site_key = config.site_key
    if php_empty(key) or not site_key or len(site_key) < 8:
        return False
    return hmac.compare_digest(site_key.encode(), key.encode())


def authenticate_rest_php(config: CiviSandboxConfig, req: PhpRequest) -> Login | None:
    """None for ``q=civicrm/ping`` (unauthenticated by design); otherwise the contact or V3Failure."""
    params = req.request
    q = php_str(params.get("q"))
    if not php_empty(q):
        args = q.split("/")
        if len(args) == 2 and args[1] == "ping" and php_empty(params.get("entity")):
            return None
        if len(args) != 3 or args[0] != "civicrm":
            raise V3Failure("ERROR: Malformed REST path")
    if not authenticate_key(config, params):
        raise V3Failure("Failed to authenticate key")
    api_key = params.get("api_key")
    if php_empty(api_key):
        raise V3Failure("FATAL: mandatory param 'api_key' (user key) missing")
    contact = find_by_api_key(config, php_str(api_key))
    if contact is None or contact.user_id is None:
        raise V3Failure("ERROR: No CMS user associated with given api-key")
    if php_str(api_key).lower() == "null":
        raise V3Failure("FATAL: mandatory param 'api_key' (user key) missing")
    return Login(contact, "rest.php", "api_key")


def wp_params(req: PhpRequest) -> dict[str, Any]:
    """``WP_REST_Request::get_params()``: JSON body over form body over query."""
    merged = dict(req.get)
    if req.method in ("POST", "PUT", "PATCH", "DELETE"):
        merged.update(req.post)
    if isinstance(req.json_body, dict):
        merged.update(req.json_body)
    return merged


def wp_error(status: int, code: str, message: str, **data: Any) -> Refusal:
    body = {"code": code, "message": message, "data": {"status": status, **data}}
    return Refusal(status, php_json(body), "application/json; charset=UTF-8")


def authenticate_wp_rest(config: CiviSandboxConfig, req: PhpRequest) -> Login:
    params = wp_params(req)
    api_key = params.get("api_key")
    contact = None if php_empty(api_key) else find_by_api_key(config, php_str(api_key))
    if contact is None:  # rest_pre_dispatch: WP_Error without a status is a 500
        raise wp_error(500, "civicrm_rest_api_error", 'Missing or invalid param "api_key".')
    if contact.user_id is None:
        raise wp_error(
            500,
            "civicrm_rest_api_error",
            "A WordPress user must be associated with the contact for the provided API key.",
        )
    missing = [name for name in ("entity", "action") if params.get(name) is None]
    if missing:
        raise wp_error(
            400, "rest_missing_callback_param", f"Missing parameter(s): {', '.join(missing)}", params=missing
        )
    invalid = [
        name
        for name in ("key", "entity", "action", "json")
        if params.get(name) is not None and not _wp_valid(config, req, name, params[name])
    ]
    if invalid:
        raise wp_error(
            400,
            "rest_invalid_param",
            f"Invalid parameter(s): {', '.join(invalid)}",
            params=dict.fromkeys(invalid, "Invalid parameter."),
            details=[],
        )
    if not authenticate_key(config, req.request):  # permissions_check, user already logged in: 403
        raise wp_error(403, "civicrm_rest_api_error", "Param key is not valid.")
    return Login(contact, "wp-rest", "api_key")


def _wp_valid(config: CiviSandboxConfig, req: PhpRequest, name: str, value: Any) -> bool:
    if name == "key":
        return authenticate_key(config, req.request)  # reads $_REQUEST, never a JSON body
    if name in ("entity", "action"):
        return isinstance(value, str)
    if isinstance(value, list | dict | int | float) or re.fullmatch(r"\s*[+-]?\d+(\.\d+)?\s*", str(value)):
        return True
    try:
        return isinstance(json.loads(str(value)), list | dict)
    except ValueError:
        return False
