"""EspoCRM API-key signer (``espo-apikey``): ``X-Api-Key: <key>`` for an API user with method ApiKey.

Also home of the two small helpers every Espo signer shares: option checking at load time and
reading one identity field at sign time.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, ClassVar

from gateway.errors import ConfigError, GatewayError
from gateway.secrets import Secret
from gateway.signers.base import Identity, OutboundRequest, SignerSpec, register

ESPO_DIALECTS = frozenset({"espocrm"})
_HEADER_BREAKERS = frozenset("\r\n\0")


def reject_unknown_options(options: Mapping[str, Any], where: str, known: Collection[str] = ()) -> None:
    """Raise ConfigError naming the first option this scheme does not know."""
    for name in options:
        if name not in known:
            allowed = ", ".join(sorted(known)) or "none"
            raise ConfigError(f"unknown option for this scheme (allowed: {allowed})", key=f"{where}.{name}")


def identity_value(identity: Identity, name: str) -> str:
    """The revealed identity field ``name``; refuses a value that would break a header line."""
    secret = identity.get(name)
    if not isinstance(secret, Secret):
        raise GatewayError(f"identity lacks {name}", reason="identity-misconfigured", status=500)
    value = secret.reveal()
    if not value or not _HEADER_BREAKERS.isdisjoint(value):
        raise GatewayError(f"identity {name} is empty or not header-safe", reason="identity-misconfigured")
    return value


class EspoApiKeySigner:
    scheme: ClassVar[str] = "espo-apikey"
    identity_fields: ClassVar[frozenset[str]] = frozenset({"api_key"})

    @classmethod
    def from_options(cls, options: Mapping[str, Any], where: str) -> EspoApiKeySigner:
        reject_unknown_options(options, where)
        return cls()

    def sign(self, request: OutboundRequest, identity: Identity, now: float) -> None:
        request.headers["X-Api-Key"] = identity_value(identity, "api_key")


register(
    EspoApiKeySigner.scheme,
    SignerSpec(
        factory=EspoApiKeySigner.from_options,
        identity_fields=EspoApiKeySigner.identity_fields,
        dialects=ESPO_DIALECTS,
    ),
)
