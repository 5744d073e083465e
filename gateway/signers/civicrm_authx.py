"""CiviCRM AuthX signers: ``authx-apikey``, ``authx-jwt`` and ``authx-basic``.

Each puts one ``"<Scheme> <value>"`` credential into the slot its ``flow`` names:

- ``xheader`` (default): ``X-Civi-Auth: <cred>``, site key in ``X-Civi-Key``;
- ``header``: ``Authorization: <cred>``, site key in ``X-Civi-Key``;
- ``param``: ``_authx=<cred>`` and ``_authxSiteKey`` in the query on GET, in the form body on POST
  (AuthX reads ``$_GET`` on GET and ``$_POST`` otherwise, never both).

A site key is sent only for api-key and password credentials (it satisfies AuthX's ``site_key``
guard); JWTs skip the guards. Minted JWTs are exactly what ``CryptoJwt::encode`` produces.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from gateway.errors import BadRequest, ConfigError, GatewayError
from gateway.secrets import Secret
from gateway.signers.base import Identity, OutboundRequest, SignerSpec
from gateway.signers.civicrm_crypto import SignKey, SignKeyError, mint_jwt, signing_key_for_gateway
from gateway.signers.civicrm_keys import CIVICRM_DIALECTS, drop_params
from gateway.signers.options import MISCONFIGURED, identity_text, reject_unknown, secret_option

FLOWS = ("xheader", "header", "param")
CREDENTIAL_PARAMS = ("_authx", "_authxSiteKey", "key", "api_key")
AUTHX_HEADERS = ("Authorization", "X-Civi-Auth", "X-Civi-Key")
"""Where ``place_credential`` puts the credential and the site key (flows ``header`` and ``xheader``)."""
AUTHX_PARAMS = frozenset({"_authx", "_authxSiteKey"})
"""Where it puts them with flow ``param``."""
REUSE_MARGIN_SECONDS = 30
_CONTACT_ID = re.compile(r"[1-9][0-9]{0,18}")
MAX_CONTACT_ID = 4294967295
"""``civicrm_contact.id`` is an ``int unsigned``."""
TOKEN_CACHE_SIZE = 10_000
"""Minted tokens kept for reuse (one per contact; the least recently minted go first)."""


def contact_id_check(value: Any) -> str:
    """A CiviCRM contact id from a claim or a look-up: a positive integer (JSON number or digits)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("is not a positive integer")
    text = str(value)
    if not _CONTACT_ID.fullmatch(text) or int(text) > MAX_CONTACT_ID:
        raise ValueError("is not a positive integer CiviCRM contact id")
    return text


_FORM_TYPE = "application/x-www-form-urlencoded"


def flow_option(options: Mapping[str, Any], where: str) -> str:
    flow = options.get("flow", "xheader")
    if not isinstance(flow, str) or flow not in FLOWS:
        raise ConfigError(f"must be one of {', '.join(FLOWS)}", key=f"{where}.flow")
    return flow


API_KEY_IS_A_FIELD = (
    "scheme authx-apikey sends the contact's api_key, a field CiviCRM returns in answers; in decision mode "
    "the answer never passes through the gateway, so its readers could read the gateway's own credential. "
    "Use scheme authx-jwt (no long-lived key travels), or leave this upstream to proxy mode"
)


def flow_refusal(scheme: str, flow: str) -> str | None:
    if flow != "param":
        return None
    return (
        f"scheme {scheme} with flow param puts the credential into the query or form body, which a "
        "front proxy cannot take from the decision's response headers; use flow xheader or header, "
        "or leave this upstream to proxy mode"
    )


def place_credential(request: OutboundRequest, flow: str, credential: str, site_key: Secret | None) -> None:
    """Put ``credential`` (and the site key, if any) where AuthX looks for ``flow``.

    Any ``key``/``api_key`` parameter is dropped as well: next to an AuthX credential it would start a
    second (legacyrest) login and the server answers "A mismatched session is already active".
    """
    drop_params(request, CREDENTIAL_PARAMS)
    request.secrets.append(credential)
    if site_key is not None:
        request.secrets.append(site_key.reveal())
    if flow in ("xheader", "header"):
        request.headers["X-Civi-Auth" if flow == "xheader" else "Authorization"] = credential
        if site_key is not None:
            request.headers["X-Civi-Key"] = site_key.reveal()
        return
    pairs = [("_authx", credential)]
    if site_key is not None:
        pairs.append(("_authxSiteKey", site_key.reveal()))
    method = request.method.upper()
    if method == "GET":
        request.query.extend(pairs)
    elif method != "POST":
        raise BadRequest(f"the AuthX param flow can carry a credential only on GET or POST, not {method}")
    elif request.form is not None:
        request.form.extend(pairs)
    elif not request.body:
        request.form = pairs
        request.body = None
        request.headers["Content-Type"] = _FORM_TYPE
    else:
        raise BadRequest(
            "the AuthX param flow needs a form body (application/x-www-form-urlencoded) or an empty body; "
            "this POST carries another body"
        )


class AuthxApiKeySigner:
    scheme: ClassVar[str] = "authx-apikey"
    identity_fields: ClassVar[frozenset[str]] = frozenset({"api_key"})

    def __init__(self, flow: str, site_key: Secret | None) -> None:
        self.flow = flow
        self._site_key = site_key

    @classmethod
    def from_options(cls, options: Mapping[str, Any], where: str) -> AuthxApiKeySigner:
        reject_unknown(options, where, ("site_key", "flow"))
        return cls(flow_option(options, where), secret_option(options, "site_key", where, required=False))

    def sign(self, request: OutboundRequest, identity: Identity, now: float) -> None:
        api_key = identity_text(identity, "api_key")
        request.secrets.append(api_key)
        place_credential(request, self.flow, "Bearer " + api_key, self._site_key)

    @property
    def front_proxy_refusal(self) -> str | None:
        return flow_refusal(self.scheme, self.flow) or API_KEY_IS_A_FIELD

    credential_lifetime: ClassVar[int | None] = None

    def __repr__(self) -> str:
        return f"AuthxApiKeySigner(flow={self.flow!r}, site_key={self._site_key!r})"


class AuthxBasicSigner:
    scheme: ClassVar[str] = "authx-basic"
    identity_fields: ClassVar[frozenset[str]] = frozenset({"username", "password"})

    def __init__(self, flow: str, site_key: Secret | None) -> None:
        self.flow = flow
        self._site_key = site_key

    @classmethod
    def from_options(cls, options: Mapping[str, Any], where: str) -> AuthxBasicSigner:
        reject_unknown(options, where, ("site_key", "flow"))
        return cls(flow_option(options, where), secret_option(options, "site_key", where, required=False))

    def sign(self, request: OutboundRequest, identity: Identity, now: float) -> None:
        username = identity_text(identity, "username")
        if ":" in username:
            raise GatewayError("CRM identity username contains ':'", reason=MISCONFIGURED, status=500)
        password = identity_text(identity, "password")
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        request.secrets += (password, token)
        place_credential(request, self.flow, "Basic " + token, self._site_key)

    @property
    def front_proxy_refusal(self) -> str | None:
        return flow_refusal(self.scheme, self.flow)

    credential_lifetime: ClassVar[int | None] = None

    def __repr__(self) -> str:
        return f"AuthxBasicSigner(flow={self.flow!r}, site_key={self._site_key!r})"


class AuthxJwtSigner:
    """Mints a short AuthX JWT (``sub=cid:<id>``, ``scope=authx``, ``exp``) per contact.

    No ``iat``/``nbf`` claim: php-jwt rejects an ``iat`` ahead of the server clock, so a gateway clock a
    second fast would lock everyone out. With ``reuse`` the token is kept until 30 s before it expires.
    """

    scheme: ClassVar[str] = "authx-jwt"
    identity_fields: ClassVar[frozenset[str]] = frozenset({"contact_id"})

    def __init__(
        self,
        key: SignKey,
        flow: str = "xheader",
        ttl_seconds: int = 300,
        reuse: bool = True,
    ) -> None:
        self._key = key
        self.flow = flow
        self.ttl_seconds = ttl_seconds
        self.reuse = reuse
        self._cache: dict[str, tuple[str, int]] = {}

    @classmethod
    def from_options(cls, options: Mapping[str, Any], where: str) -> AuthxJwtSigner:
        reject_unknown(options, where, ("sign_keys", "flow", "ttl_seconds", "reuse"))
        sign_keys = secret_option(options, "sign_keys", where, required=True)
        assert sign_keys is not None
        try:
            key = signing_key_for_gateway(sign_keys.reveal())
        except SignKeyError as exc:
            raise ConfigError(f"unusable CIVICRM_SIGN_KEYS: {exc}", key=f"{where}.sign_keys") from None
        ttl = options.get("ttl_seconds", 300)
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= 3600:
            raise ConfigError("must be a whole number of seconds from 1 to 3600", key=f"{where}.ttl_seconds")
        reuse = options.get("reuse", True)
        if not isinstance(reuse, bool):
            raise ConfigError("must be true or false", key=f"{where}.reuse")
        return cls(key, flow_option(options, where), ttl, reuse)

    @property
    def front_proxy_refusal(self) -> str | None:
        return flow_refusal(self.scheme, self.flow)

    @property
    def credential_lifetime(self) -> int | None:
        # exp = int(now) + ttl: a fresh token lives more than ttl - 1 s; a reused one more than the margin.
        fresh = self.ttl_seconds - 1
        return min(fresh, REUSE_MARGIN_SECONDS) if self.reuse else fresh

    @property
    def kid(self) -> str:
        return self._key.kid

    def token_for(self, contact_id: str, now: float) -> str:
        cached = self._cache.get(contact_id) if self.reuse else None
        if cached is not None and now < cached[1] - REUSE_MARGIN_SECONDS:
            return cached[0]
        exp = int(now) + self.ttl_seconds
        token = mint_jwt({"sub": f"cid:{contact_id}", "scope": "authx", "exp": exp}, self._key)
        if self.reuse:
            self._cache.pop(contact_id, None)
            if len(self._cache) >= TOKEN_CACHE_SIZE:  # one entry per person: keep it bounded
                del self._cache[next(iter(self._cache))]
            self._cache[contact_id] = (token, exp)
        return token

    def sign(self, request: OutboundRequest, identity: Identity, now: float) -> None:
        contact_id = identity_text(identity, "contact_id")
        if not _CONTACT_ID.fullmatch(contact_id):
            raise GatewayError("CRM identity contact_id is not a positive integer", reason=MISCONFIGURED)
        token = self.token_for(contact_id, now)
        request.secrets.append(token)
        place_credential(request, self.flow, "Bearer " + token, None)

    def __repr__(self) -> str:
        return f"AuthxJwtSigner(kid={self._key.kid!r}, flow={self.flow!r}, ttl={self.ttl_seconds})"


APIKEY = SignerSpec(
    scheme=AuthxApiKeySigner.scheme,
    factory=AuthxApiKeySigner.from_options,
    identity_fields=AuthxApiKeySigner.identity_fields,
    dialects=CIVICRM_DIALECTS,
    options=frozenset({"site_key", "flow"}),
    secret_options=frozenset({"site_key"}),
    headers=AUTHX_HEADERS,
    params=AUTHX_PARAMS,
)
BASIC = SignerSpec(
    scheme=AuthxBasicSigner.scheme,
    factory=AuthxBasicSigner.from_options,
    identity_fields=AuthxBasicSigner.identity_fields,
    dialects=CIVICRM_DIALECTS,
    options=frozenset({"site_key", "flow"}),
    secret_options=frozenset({"site_key"}),
    headers=AUTHX_HEADERS,
    params=AUTHX_PARAMS,
    plain_fields=("username",),
)
JWT = SignerSpec(
    scheme=AuthxJwtSigner.scheme,
    factory=AuthxJwtSigner.from_options,
    identity_fields=AuthxJwtSigner.identity_fields,
    dialects=CIVICRM_DIALECTS,
    options=frozenset({"sign_keys", "flow", "ttl_seconds", "reuse"}),
    secret_options=frozenset({"sign_keys"}),
    headers=AUTHX_HEADERS,
    params=AUTHX_PARAMS,
    plain_fields=("contact_id",),
    person_fields={"contact_id": contact_id_check},
)
