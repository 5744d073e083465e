"""How the sandbox CiviCRM authenticates routes served by ``CRM_Core_Invoke`` (``civicrm/ajax/*``):
AuthX's ``Authenticator`` (flows xheader, header, param) then ``LegacyRestAuthenticator``
(``key``/``api_key``), a faithful replay of the real server's checks. Failures raise :class:`Refusal`.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.sandbox.civicrm_auth import Login, find_by_api_key
from gateway.sandbox.civicrm_config import CiviSandboxConfig
from gateway.sandbox.civicrm_jwt import CryptoError, MalformedTokenError, decode_jwt, parse_sign_keys
from gateway.sandbox.civicrm_php import PhpRequest, Refusal, php_empty, php_json, php_str, server_error
from gateway.signers.civicrm_crypto import SignKeyError, php_base64_decode

WEB_SERVICE_FLOWS = frozenset({"legacyrest", "param", "xheader"})
_GUARD_PERMS = {"pass": "authenticate with password", "api_key": "authenticate with api key"}


Rejecter = Callable[[str], "Refusal"]


class _Ignored(Exception):
    """AuthX's IgnoreCredentialException: try the next flow."""


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
