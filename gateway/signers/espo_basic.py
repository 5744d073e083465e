"""EspoCRM user-credential signers.

``espo-basic``: ``Espo-Authorization: base64(username:password)`` for a regular (non-API) user.
``espo-token``: ``Espo-Authorization: base64(username:token)`` plus ``Espo-Authorization-By-Token: true``,
the token being one ``GET App/user`` returned, so no password travels.

Both take an optional ``act_as``: the user name sent as ``X-Another-User``, so that an **admin** user
acts as that regular user (espocrm ``Authentication::getLoggedUser``). API-key/HMAC users can never do
that (the server answers 401), so those schemes have no such field.

The server splits at the first ``:`` and trims both halves, so a username with ``:`` or a value with
surrounding blanks can never log in: such an identity is refused here rather than at the CRM.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from gateway.errors import GatewayError
from gateway.signers.base import Identity, OutboundRequest, SignerSpec
from gateway.signers.espo_apikey import ESPO_DIALECTS
from gateway.signers.options import identity_text, reject_unknown

AUTHORIZATION = "Espo-Authorization"
BY_TOKEN = "Espo-Authorization-By-Token"
ANOTHER_USER = "X-Another-User"
PHP_TRIMMED = " \t\n\r\0\x0b"
"""What PHP ``trim()`` removes: the server trims both halves of the credential."""
_USER_NAME = re.compile(r"[a-z0-9@._-]+(?: [a-z0-9@._-]+)*")
r"""EspoCRM's default ``userNameRegularExpression`` (``[^a-z0-9\-@_\.\s]`` marks what is not allowed),
without leading, trailing or repeated blanks (a header value loses them)."""


def user_name_check(value: Any) -> str:
    """An EspoCRM user name from a claim or a look-up, for ``X-Another-User``."""
    if not isinstance(value, str) or not value:
        raise ValueError("is not a user name")
    if len(value) > 255 or not _USER_NAME.fullmatch(value):
        raise ValueError("is not a valid EspoCRM user name (lower-case letters, digits, @ . _ -)")
    return value


def act_as(request: OutboundRequest, identity: Identity) -> None:
    target = identity.get("act_as")
    if target is not None:
        try:
            request.headers[ANOTHER_USER] = user_name_check(target.reveal())
        except ValueError as exc:
            raise GatewayError(f"identity act_as {exc}", reason="identity-misconfigured") from None


def _checked(identity: Identity, name: str) -> str:
    value = identity_text(identity, name)
    if value != value.strip(PHP_TRIMMED):
        raise GatewayError(f"identity {name} has blanks EspoCRM would trim", reason="identity-misconfigured")
    return value


def espo_authorization(username: str, secret: str) -> str:
    """The ``Espo-Authorization`` header value for ``username`` and a password or token."""
    if ":" in username:
        raise GatewayError("identity username contains ':'", reason="identity-misconfigured")
    return base64.b64encode(f"{username}:{secret}".encode()).decode()


class EspoBasicSigner:
    scheme: ClassVar[str] = "espo-basic"
    identity_fields: ClassVar[frozenset[str]] = frozenset({"username", "password"})
    front_proxy_refusal: ClassVar[str | None] = None
    credential_lifetime: ClassVar[int | None] = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any], where: str) -> EspoBasicSigner:
        reject_unknown(options, where)
        return cls()

    def sign(self, request: OutboundRequest, identity: Identity, now: float) -> None:
        password = _checked(identity, "password")
        value = espo_authorization(_checked(identity, "username"), password)
        request.headers[AUTHORIZATION] = value
        request.secrets += (password, value)
        act_as(request, identity)


class EspoTokenSigner:
    scheme: ClassVar[str] = "espo-token"
    identity_fields: ClassVar[frozenset[str]] = frozenset({"username", "token"})
    front_proxy_refusal: ClassVar[str | None] = None
    credential_lifetime: ClassVar[int | None] = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any], where: str) -> EspoTokenSigner:
        reject_unknown(options, where)
        return cls()

    def sign(self, request: OutboundRequest, identity: Identity, now: float) -> None:
        token = _checked(identity, "token")
        value = espo_authorization(_checked(identity, "username"), token)
        request.headers[AUTHORIZATION] = value
        request.secrets += (token, value)
        request.headers[BY_TOKEN] = "true"
        act_as(request, identity)


ANOTHER_USER_REFUSAL = (
    "act_as sends X-Another-User, which is not among the headers a front proxy sets from the decision"
)

BASIC = SignerSpec(
    scheme=EspoBasicSigner.scheme,
    factory=EspoBasicSigner.from_options,
    identity_fields=EspoBasicSigner.identity_fields,
    dialects=ESPO_DIALECTS,
    headers=(AUTHORIZATION,),
    proxy_only_headers=(ANOTHER_USER,),
    plain_fields=("username", "act_as"),
    person_fields={"act_as": user_name_check},
    front_proxy_refused_fields={"act_as": ANOTHER_USER_REFUSAL},
)
TOKEN = SignerSpec(
    scheme=EspoTokenSigner.scheme,
    factory=EspoTokenSigner.from_options,
    identity_fields=EspoTokenSigner.identity_fields,
    dialects=ESPO_DIALECTS,
    headers=(AUTHORIZATION, BY_TOKEN),
    proxy_only_headers=(ANOTHER_USER,),
    plain_fields=("username", "act_as"),
    person_fields={"act_as": user_name_check},
    front_proxy_refused_fields={"act_as": ANOTHER_USER_REFUSAL},
)
