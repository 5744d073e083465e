"""EspoCRM API authentication, decided the way the real server decides it.

Follows espocrm ``Api/Auth``, ``Authentication/Authentication::login``, ``Logins/{ApiKey,Hmac,Espo}``
and the ``FailedAttemptsLimit`` hook: ``Espo-Authorization`` switches API-key/HMAC detection off,
``X-Api-Key`` wins over ``X-Hmac-Authorization``, the HMAC is compared (``===``) with the hex and the
legacy raw digest of ``METHOD + " " + filtered resource path``, a password may also be an auth token,
and denied logins are counted per client IP (more than the limit inside the window: 403 for all).
PHP's lenient decoding and truthiness are kept (see ``espocrm_request``).
Stricter than a MySQL-backed server in one place: API keys match case-sensitively (MySQL's collation
would not), so a signer that changes a key's case fails here instead of passing by luck.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable

from multidict import CIMultiDictProxy

from gateway.sandbox.espocrm_config import EspoUser
from gateway.sandbox.espocrm_request import (
    ANOTHER_USER,
    AUTHORIZATION,
    BY_TOKEN,
    PHP_TRIMMED,
    AuthRequest,
    Refusal,
    Session,
    as_text,
    header_line,
    php_auth,
    php_base64_decode,
    split_credentials,
    truthy,
)


class EspoAuthenticator:
    def __init__(
        self,
        users: list[EspoUser],
        max_failed_logins: int,
        window_seconds: float,
        clock: Callable[[], float],
        *,
        another_user_disabled: bool = False,
    ) -> None:
        self.another_user_disabled = another_user_disabled
        self._users = list(users)
        self._max_failed = max_failed_logins
        self._window = window_seconds
        self._clock = clock
        self._failures: dict[str, list[float]] = {}
        self._tokens: dict[str, str] = {user.token: user.id for user in users if user.token}

    def user_by_name(self, name: str) -> EspoUser | None:
        return next((user for user in self._users if user.user_name == name), None)

    def _api_user(self, method: str, api_key: str) -> EspoUser | None:
        sent = api_key.encode("utf-8", "surrogateescape")
        for user in self._users:
            stored = user.api_key.encode() if user.api_key and user.auth_method == method else None
            if stored is not None and hmac.compare_digest(stored, sent):
                return user
        return None

    def authenticate(self, request: AuthRequest) -> Session | Refusal:
        headers = request.headers
        method: str | None = None
        if AUTHORIZATION not in headers:
            if "X-Api-Key" in headers:
                method = "ApiKey"
            elif "X-Hmac-Authorization" in headers:
                method = "Hmac"
        username: str | None = None
        password: str | None = None
        if method is None:
            pair = self._username_password(headers)
            if isinstance(pair, Refusal):
                return pair
            username, password = pair
        by_token_only = False
        if not (truthy(username) or method):
            cookie = request.cookies.get("auth-token")
            if not truthy(cookie):
                return self._no_credentials(request)
            password, by_token_only = cookie, True
        return self._login(request, method, username, password, by_token_only)

    def _username_password(self, headers: CIMultiDictProxy[str]) -> tuple[str | None, str | None] | Refusal:
        espo = header_line(headers, AUTHORIZATION)
        if espo is not None:
            return split_credentials(espo)
        basic = php_auth(headers.get("Authorization"))
        if basic is not None and truthy(basic[0]) and truthy(basic[1]):
            return basic[0].strip(PHP_TRIMMED), basic[1].strip(PHP_TRIMMED)
        cgi = header_line(headers, "Http-Espo-Cgi-Auth")
        if cgi is None:
            cgi = header_line(headers, "Redirect-Http-Espo-Cgi-Auth")
        if truthy(cgi):
            assert cgi is not None
            return split_credentials(cgi[6:])
        return None, None

    @staticmethod
    def _no_credentials(request: AuthRequest) -> Refusal:
        headers = request.headers
        is_xhr = (header_line(headers, "X-Requested-With") or "").lower() == "xmlhttprequest"
        dialog = not is_xhr and not truthy(header_line(headers, "Referer")) and request.method != "POST"
        return Refusal(401, headers={"WWW-Authenticate": 'Basic realm=""'} if dialog else {})

    def _login(
        self,
        request: AuthRequest,
        method: str | None,
        username: str | None,
        password: str | None,
        by_token_only: bool,
    ) -> Session | Refusal:
        headers = request.headers
        by_token_header = header_line(headers, BY_TOKEN) == "true"
        if not (method is None and by_token_header) and self._locked_out(request.ip):
            return Refusal(403)
        token_owner = self._tokens.get(password) if method is None and password is not None else None
        if method is not None and by_token_header:
            return Refusal(401)
        if (by_token_header or by_token_only) and token_owner is None:
            return Refusal(401)
        if by_token_only:
            owner = next((u for u in self._users if u.id == token_owner), None)
            if owner is None:
                return Refusal(401)
            username = owner.user_name
        user = self._check(request, method, username, password, token_owner)
        if isinstance(user, Refusal):
            return user
        if user is None:
            if token_owner is None:
                self._failures.setdefault(request.ip, []).append(self._clock())
            return Refusal(401)
        logged = self._logged_user(headers, user)
        if logged is None:
            return Refusal(401)
        token = None
        if truthy(header_line(headers, AUTHORIZATION)):
            token = password if token_owner is not None else self._issue_token(user)
        return Session(user=logged, token=token, logged_in=user if logged is not user else None)

    def _check(
        self,
        request: AuthRequest,
        method: str | None,
        username: str | None,
        password: str | None,
        token_owner: str | None,
    ) -> EspoUser | Refusal | None:
        if method == "ApiKey":
            api_key = header_line(request.headers, "X-Api-Key")
            return self._api_user("ApiKey", api_key) if api_key is not None and truthy(api_key) else None
        if method == "Hmac":
            return self._check_hmac(request)
        if username is None or password is None or not truthy(username) or not truthy(password):
            return None
        user = self.user_by_name(username)
        if user is None or user.auth_method != "Password":
            return None
        if token_owner is not None:
            return user if user.id == token_owner else None
        sent = password.encode("utf-8", "surrogateescape")
        if user.password is None or not hmac.compare_digest(user.password.encode(), sent):
            return None
        return user

    def _check_hmac(self, request: AuthRequest) -> EspoUser | Refusal | None:
        decoded = php_base64_decode(header_line(request.headers, "X-Hmac-Authorization") or "")
        api_key, colon, proof = decoded.partition(b":")
        if not truthy(api_key):
            return None
        user = self._api_user("Hmac", as_text(api_key))
        if user is None:
            return None
        if not user.secret_key:
            return Refusal(500, "No secret key for the API user.")
        if not colon:
            return None
        signed = f"{request.method} {request.resource_path}".encode("utf-8", "surrogateescape")
        mac = hmac.new(user.secret_key.encode(), signed, hashlib.sha256)
        hex_form, legacy_raw_form = mac.hexdigest().encode(), mac.digest()
        accepted = hmac.compare_digest(proof, hex_form) or hmac.compare_digest(proof, legacy_raw_form)
        return user if accepted else None

    def _logged_user(self, headers: CIMultiDictProxy[str], user: EspoUser) -> EspoUser | None:
        """``Authentication::getLoggedUser``: ``X-Another-User`` is refused when the site disables it
        (``authAnotherUserDisabled``), unless the credential's user is an admin, and unless the named
        user is a regular one (not admin, API, portal or system). Not checked there: whether the target
        is active (the real server does not either)."""
        another = header_line(headers, ANOTHER_USER)
        if another is None or not truthy(another):
            return user
        if self.another_user_disabled:
            return None
        if not user.is_admin or user.is_api:
            return None
        target = self.user_by_name(another)
        if target is None or not target.is_regular:
            return None
        return target

    def _issue_token(self, user: EspoUser) -> str:
        token = user.token or next((t for t, owner in self._tokens.items() if owner == user.id), None)
        if token is None:
            token = secrets.token_hex(16)
        self._tokens[token] = user.id
        return token

    def _locked_out(self, ip: str) -> bool:
        since = self._clock() - self._window
        recent = [moment for moment in self._failures.get(ip, []) if moment > since]
        self._failures[ip] = recent
        return len(recent) > self._max_failed

    def failed_logins(self, ip: str) -> int:
        since = self._clock() - self._window
        return sum(1 for moment in self._failures.get(ip, []) if moment > since)
