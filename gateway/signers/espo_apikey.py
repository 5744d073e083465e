"""EspoCRM API-key signer (``espo-apikey``): ``X-Api-Key: <key>`` for an API user with method ApiKey."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from gateway.signers.base import Identity, OutboundRequest, SignerSpec
from gateway.signers.options import identity_text, reject_unknown

ESPO_DIALECTS = frozenset({"espocrm"})
ACT_AS_REFUSAL = (
    "cannot act as another user: EspoCRM honours X-Another-User only for an admin user signing in with "
    "espo-basic or espo-token (an API user gets 401)"
)


class EspoApiKeySigner:
    scheme: ClassVar[str] = "espo-apikey"
    identity_fields: ClassVar[frozenset[str]] = frozenset({"api_key"})
    front_proxy_refusal: ClassVar[str | None] = None
    credential_lifetime: ClassVar[int | None] = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any], where: str) -> EspoApiKeySigner:
        reject_unknown(options, where)
        return cls()

    def sign(self, request: OutboundRequest, identity: Identity, now: float) -> None:
        api_key = identity_text(identity, "api_key")
        request.headers["X-Api-Key"] = api_key
        request.secrets.append(api_key)


SPEC = SignerSpec(
    scheme=EspoApiKeySigner.scheme,
    factory=EspoApiKeySigner.from_options,
    identity_fields=EspoApiKeySigner.identity_fields,
    dialects=ESPO_DIALECTS,
    headers=("X-Api-Key",),
    field_refusals={"act_as": ACT_AS_REFUSAL},
)
