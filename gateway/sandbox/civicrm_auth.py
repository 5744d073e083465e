"""How the sandbox CiviCRM decides who is calling: a faithful replay of the real server's checks.

- :func:`authenticate_rest_php`: ``extern/rest.php`` (``CRM_Utils_REST::loadCMSBootstrap``);
- :func:`authenticate_wp_rest`: ``wp-json/civicrm/v3/rest`` (civicrm-wordpress ``Plugin``/``Controller\\Rest``
  with WordPress' own argument validation in between);
- :func:`authenticate_invoke`: routes served by ``CRM_Core_Invoke`` (``civicrm/ajax/*``): AuthX's
  ``Authenticator`` (flows xheader, header, param) then ``LegacyRestAuthenticator`` (``key``/``api_key``).

Failures raise :class:`Refusal` (already rendered) or :class:`V3Failure` (rendered by the endpoint).
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl

from multidict import CIMultiDictProxy

from gateway.sandbox.civicrm_jwt import CryptoError, MalformedTokenError, decode_jwt, parse_sign_keys
from gateway.sandbox.civicrm_store import CiviSandboxConfig, SandboxContact
from gateway.signers.civicrm_crypto import SignKeyError, php_base64_decode

WEB_SERVICE_FLOWS = frozenset({"legacyrest", "param", "xheader"})
_GUARD_PERMS = {"pass": "authenticate with password", "api_key": "authenticate with api key"}
_PHP_TRIM = " \t\n\r\0\x0b"
_BRACKETS = re.compile(r"^([^\[]+)(\[.*\].*)$")


@dataclass
class PhpRequest:
    """The request as PHP sees it: ``$_GET``, ``$_POST`` (POST only), headers, and the CiviCRM route."""

    method: str
    route: str
    get: dict[str, Any]
    post: dict[str, Any]
    headers: CIMultiDictProxy[str]
    json_body: Any = None

    @property
    def request(self) -> dict[str, Any]:
        """``$_REQUEST`` with request_order "GP": POST overrides GET."""
        return {**self.get, **self.post}

    def header(self, name: str) -> str | None:
        values = self.headers.getall(name, [])
        return ", ".join(values) if values else None


@dataclass(frozen=True)
class Login:
    contact: SandboxContact
    flow: str
    cred_type: str


class Refusal(Exception):
    def __init__(self, status: int, body: str, content_type: str) -> None:
        super().__init__(body)
        self.status = status
        self.body = body
        self.content_type = content_type


class V3Failure(Exception):
    """A v3 REST error result (``is_error`` 1) the endpoint renders as JSON or XML, with HTTP 200."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.result = {"error_message": message, "is_error": 1}


Rejecter = Callable[[str], "Refusal"]


class _Ignored(Exception):
    """AuthX's IgnoreCredentialException: try the next flow."""


def php_parse(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """PHP's ``$_GET``/``$_POST`` from decoded pairs: last wins, ``.`` and space in names become ``_``,
    ``a[b][]=v`` builds nested arrays (as dicts with string keys)."""
    out: dict[str, Any] = {}
    for raw, value in pairs:
        match = _BRACKETS.match(raw)
        base, tail = (match.group(1), match.group(2)) if match else (raw, "")
        base = base.lstrip(" ").replace(".", "_").replace(" ", "_").replace("[", "_")
        if not base:
            continue
        container, key = out, base
        for segment in re.findall(r"\[([^\]]*)\]", tail):
            child = container.get(key)
            if not isinstance(child, dict):
                child = container[key] = {}
            container = child
            key = segment or str(max((int(k) + 1 for k in child if k.lstrip("-").isdigit()), default=0))
        container[key] = value
    return out


def parse_body(method: str, content_type: str, body: bytes) -> tuple[dict[str, Any], Any]:
    """(``$_POST``, JSON body): PHP fills ``$_POST`` only for POST forms; WordPress also reads JSON."""
    mime = content_type.partition(";")[0].strip().lower()
    post: dict[str, Any] = {}
    if mime == "application/x-www-form-urlencoded":
        fields = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        post = php_parse(fields) if method == "POST" else {}
    elif mime == "multipart/form-data" and method == "POST":
        message = BytesParser(policy=policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n" + body
        )
        parts = message.iter_parts() if message.is_multipart() else iter(())
        post = php_parse((_part_name(part), _part_text(part)) for part in parts)
    json_body = None
    if mime == "application/json" and body:
        try:
            json_body = json.loads(body)
        except ValueError:
            json_body = None
    return post, json_body


def _part_name(part: Any) -> str:
    name = part.get_param("name", header="content-disposition")
    return name if isinstance(name, str) else ""


def _part_text(part: Any) -> str:
    payload = part.get_payload(decode=True) or b""
    return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload)


def php_json(value: Any) -> str:
    """``json_encode`` defaults: compact, ``\\/`` for slashes, ASCII escapes."""
    return json.dumps(value, separators=(",", ":")).replace("/", "\\/")


def server_error() -> Refusal:
    return Refusal(500, "HTTP 500 Internal Server Error", "text/plain")


def php_empty(value: Any) -> bool:
    return value is None or value in ("", "0") or value == [] or value == {}


def php_str(value: Any) -> str:
    return "Array" if isinstance(value, list | dict) else "" if value is None else str(value)


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


def authenticate_invoke(config: CiviSandboxConfig, req: PhpRequest) -> Login | None:
    """Both ``civi.invoke.auth`` listeners in turn; None when the request carries no credential."""
    login = _authx_listener(config, req)
    return _legacy_listener(config, req, login)


def _authx_listener(config: CiviSandboxConfig, req: PhpRequest) -> Login | None:
    params = req.get if req.method == "GET" else req.post
    site_key = req.header("X-Civi-Key")
    if site_key is None and params.get("_authxSiteKey") is not None:
        site_key = php_str(params["_authxSiteKey"])
    xheader = req.header("X-Civi-Auth")
    if not php_empty(xheader):
        return _authx(config, "xheader", php_str(xheader), site_key, None, _authx_reject)
    authorization = req.header("Authorization")
    if not php_empty(authorization) and config.authx_flow_creds.get("header"):
        try:
            return _authx(config, "header", php_str(authorization), site_key, None, _authx_reject)
        except _Ignored:
            pass
    if php_empty(params.get("_authx")):
        return None
    if req.route == "civicrm/authx/login":
        flow = "login"
    else:
        flow = "auto" if not php_empty(params.get("_authxSes")) else "param"
    return _authx(config, flow, php_str(params["_authx"]), site_key, None, _authx_reject)


def _legacy_listener(config: CiviSandboxConfig, req: PhpRequest, session: Login | None) -> Login | None:
    args = req.route.split("/")
    if not (len(args) > 2 and args[1] == "ajax" and args[2] in ("rest", "api4")):
        return session
    params = req.request
    if php_empty(params.get("api_key")) and php_empty(params.get("key")):
        return session
    site_key = php_str(params["key"]) if params.get("key") is not None else None
    cred = "Bearer " + php_str(params.get("api_key"))
    return _authx(config, "legacyrest", cred, site_key, session, _legacy_reject)


def _authx_reject(message: str) -> Refusal:
    return Refusal(401, f"HTTP 401 {message}", "text/plain")


def _legacy_reject(message: str) -> Refusal:
    return Refusal(200, php_json({"error_message": f"FATAL: {message}", "is_error": 1}), "text/javascript")


@dataclass
class _Principal:
    contact_id: str
    cred_type: str


def _authx(
    config: CiviSandboxConfig,
    flow: str,
    cred: str,
    site_key: str | None,
    session: Login | None,
    reject: Rejecter,
) -> Login:
    """``Authenticator::auth``: checkCredential, checkPolicy, login."""
    principal = _check_credential(config, cred, reject)
    allow_creds = config.authx_flow_creds.get(flow, ())
    if flow == "header" and re.match(r"(Basic|Digest) ", cred) and "pass" not in allow_creds:
        raise _Ignored()
    if principal is None:
        raise reject("Invalid credential")
    numeric = re.fullmatch(r"[0-9]{1,18}", principal.contact_id)
    contact = config.contact(int(principal.contact_id)) if numeric else None
    if contact is None:
        raise reject(f"Contact ID {_php_intval(principal.contact_id)} is invalid")
    if principal.cred_type not in allow_creds:
        raise reject(
            f'Authentication type "{principal.cred_type}" with flow "{flow}" '
            "is not allowed for this principal."
        )
    user_mode = config.authx_flow_users.get(flow, "optional")
    user_id = None if user_mode == "ignore" else contact.user_id
    if user_mode == "require" and user_id is None:
        raise reject("Cannot login. No matching user is available.")
    guards = config.authx_guards
    if guards and not (
        ("site_key" in guards and hmac.compare_digest(config.site_key.encode(), (site_key or "").encode()))
        or ("perm" in guards and _GUARD_PERMS.get(principal.cred_type) in contact.permissions)
        or principal.cred_type == "jwt"
    ):
        raise reject(f"Login not permitted. Must satisfy guard ({', '.join(guards)}).")
    if session is not None:
        same_user = session.contact.user_id is not None and user_id is not None
        if session.contact.id == contact.id and same_user and session.contact.user_id == user_id:
            return Login(contact, "already-logged-in", "already-logged-in")
        raise reject("Cannot login. A mismatched session is already active.")
    return Login(contact, flow, principal.cred_type)


def _check_credential(config: CiviSandboxConfig, cred: str, reject: Rejecter) -> _Principal | None:
    """The three CheckCredential listeners: Basic user, Bearer api_key, Bearer JWT."""
    fmt, space, value = cred.partition(" ")
    if fmt == "Basic":
        user, _, password = php_base64_decode(value).decode("utf-8", "replace").partition(":")
        for c in config.contacts:
            if c.user_id is not None and c.username == user and password and c.password == password:
                return _Principal(str(c.id), "pass")
        return None
    if fmt != "Bearer":
        return None
    if not space:
        raise server_error()  # PHP: null credValue into a typed string parameter
    contact = find_by_api_key(config, value)
    if contact is not None:
        return _Principal(str(contact.id), "api_key")
    return _bearer_jwt(config, value, reject)


def _bearer_jwt(config: CiviSandboxConfig, token: str, reject: Rejecter) -> _Principal | None:
    try:
        keys = parse_sign_keys(config.sign_keys) if config.sign_keys else []
        claims = decode_jwt(token, keys, int(config.clock()))
    except CryptoError as exc:
        if "Expired token" in str(exc):
            raise reject("Expired token") from None
        return None
    except (MalformedTokenError, SignKeyError):
        raise server_error() from None
    scope = claims.get("scope")
    if isinstance(scope, list | dict):
        raise server_error()
    if scope is None or "authx" not in _php_scalar(scope).split(" "):
        return None
    sub = claims.get("sub")
    if isinstance(sub, list | dict):
        raise server_error()
    if php_empty(sub) or not _php_scalar(sub).startswith("cid:"):
        raise reject("Malformed JWT. Must specify the contact ID.")
    contact_id = _php_scalar(sub)[4:]
    if php_empty(contact_id):
        raise server_error()  # AuthxException: principal without a contact
    return _Principal(contact_id, "jwt")


def _php_scalar(value: Any) -> str:
    if value is True:
        return "1"
    if value is False:
        return ""
    return str(value)


def _php_intval(text: str) -> int:
    match = re.match(r"\s*[+-]?\d+", text)
    return int(match.group(0)) if match else 0
