"""CiviCRM traditional keys (``civicrm-keys``): ``key=<site key>&api_key=<contact api key>`` in the query.

Used by v3 ``extern/rest.php``, the WordPress REST route and AuthX's ``legacyrest`` flow. The query
string carries both even on POST: every one of those endpoints reads ``$_REQUEST`` (GET and POST).

Also home of the site key option and the parameter dropping the CiviCRM signers share.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, ClassVar

from gateway.errors import ConfigError
from gateway.secrets import Secret
from gateway.signers.base import Identity, OutboundRequest, SignerSpec
from gateway.signers.options import identity_text, reject_unknown, secret_option

CIVICRM_DIALECTS = frozenset({"civicrm"})
MIN_SITE_KEY_LENGTH = 8


def site_key_option(options: Mapping[str, Any], where: str, *, required: bool) -> Secret | None:
    """CIVICRM_SITE_KEY: the server refuses keys shorter than 8 characters for key-based auth."""
    secret = secret_option(options, "site_key", where, required=required)
    if secret is not None and len(secret.reveal()) < MIN_SITE_KEY_LENGTH:
        raise ConfigError(
            f"a CiviCRM site key has at least {MIN_SITE_KEY_LENGTH} characters (the server refuses shorter)",
            key=f"{where}.site_key",
        )
    return secret


def drop_params(request: OutboundRequest, names: Collection[str]) -> None:
    """Defence in depth: no client copy of a credential parameter survives next to the injected one."""
    request.query[:] = [(k, v) for k, v in request.query if k not in names]
    if request.form is not None:
        request.form[:] = [(k, v) for k, v in request.form if k not in names]


class CiviKeysSigner:
    scheme: ClassVar[str] = "civicrm-keys"
    identity_fields: ClassVar[frozenset[str]] = frozenset({"api_key"})
    front_proxy_refusal: ClassVar[str | None] = (
        "scheme civicrm-keys puts the CRM keys into the query string, which a front proxy cannot take "
        "from the decision's response headers; use authx-apikey or authx-jwt (flow xheader or header), "
        "or leave this upstream to proxy mode"
    )
    credential_lifetime: ClassVar[int | None] = None

    def __init__(self, site_key: Secret) -> None:
        self._site_key = site_key

    @classmethod
    def from_options(cls, options: Mapping[str, Any], where: str) -> CiviKeysSigner:
        reject_unknown(options, where, ("site_key",))
        site_key = site_key_option(options, where, required=True)
        assert site_key is not None
        return cls(site_key)

    def sign(self, request: OutboundRequest, identity: Identity, now: float) -> None:
        api_key = identity_text(identity, "api_key")
        drop_params(request, ("key", "api_key"))
        site_key = self._site_key.reveal()
        request.query.append(("key", site_key))
        request.query.append(("api_key", api_key))
        request.secrets += (site_key, api_key)

    def __repr__(self) -> str:
        return f"CiviKeysSigner(site_key={self._site_key!r})"


SPEC = SignerSpec(
    scheme=CiviKeysSigner.scheme,
    factory=CiviKeysSigner.from_options,
    identity_fields=CiviKeysSigner.identity_fields,
    dialects=CIVICRM_DIALECTS,
    options=frozenset({"site_key"}),
    secret_options=frozenset({"site_key"}),
    params=frozenset({"key", "api_key"}),
)
