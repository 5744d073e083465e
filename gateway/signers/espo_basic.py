"""EspoCRM user-credential signers.

``espo-basic``: ``Espo-Authorization: base64(username:password)`` for a regular (non-API) user.
``espo-token``: ``Espo-Authorization: base64(username:token)`` plus ``Espo-Authorization-By-Token: true``,
the token being one ``GET App/user`` returned, so no password travels.

The server splits at the first ``:`` and trims both halves, so a username with ``:`` or a value with
surrounding blanks can never log in: such an identity is refused here rather than at the CRM.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, ClassVar

from gateway.errors import GatewayError
from gateway.signers.base import Identity, OutboundRequest, SignerSpec, register
from gateway.signers.espo_apikey import ESPO_DIALECTS, identity_value, reject_unknown_options

AUTHORIZATION = "Espo-Authorization"
BY_TOKEN = "Espo-Authorization-By-Token"
PHP_TRIMMED = " \t\n\r\0\x0b"
"""What PHP ``trim()`` removes: the server trims both halves of the credential."""


def _checked(identity: Identity, name: str) -> str:
    value = identity_value(identity, name)
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

    @classmethod
    def from_options(cls, options: Mapping[str, Any], where: str) -> EspoBasicSigner:
        reject_unknown_options(options, where)
        return cls()

    def sign(self, request: OutboundRequest, identity: Identity, now: float) -> None:
        value = espo_authorization(_checked(identity, "username"), _checked(identity, "password"))
        request.headers[AUTHORIZATION] = value


class EspoTokenSigner:
    scheme: ClassVar[str] = "espo-token"
    identity_fields: ClassVar[frozenset[str]] = frozenset({"username", "token"})

    @classmethod
    def from_options(cls, options: Mapping[str, Any], where: str) -> EspoTokenSigner:
        reject_unknown_options(options, where)
        return cls()

    def sign(self, request: OutboundRequest, identity: Identity, now: float) -> None:
        value = espo_authorization(_checked(identity, "username"), _checked(identity, "token"))
        request.headers[AUTHORIZATION] = value
        request.headers[BY_TOKEN] = "true"


register(
    EspoBasicSigner.scheme,
    SignerSpec(
        factory=EspoBasicSigner.from_options,
        identity_fields=EspoBasicSigner.identity_fields,
        dialects=ESPO_DIALECTS,
    ),
)
register(
    EspoTokenSigner.scheme,
    SignerSpec(
        factory=EspoTokenSigner.from_options,
        identity_fields=EspoTokenSigner.identity_fields,
        dialects=ESPO_DIALECTS,
    ),
)
