"""CiviCRM traditional keys (``civicrm-keys``): ``key=<site key>&api_key=<contact api key>`` in the query.

Used by v3 ``extern/rest.php``, the WordPress REST route and AuthX's ``legacyrest`` flow. The query
string carries both even on POST: every one of those endpoints reads ``$_REQUEST`` (GET and POST).

Also home of the option and identity helpers the CiviCRM signers share.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, ClassVar

from gateway.errors import ConfigError, GatewayError
from gateway.secrets import Secret
from gateway.signers.base import Identity, OutboundRequest, SignerSpec, register

CIVICRM_DIALECTS = frozenset({"civicrm"})
MIN_SITE_KEY_LENGTH = 8
MISCONFIGURED = "identity-misconfigured"
_UNSAFE = frozenset("\r\n\0")


def reject_unknown(options: Mapping[str, Any], where: str, known: Collection[str]) -> None:
    for name in options:
        if name not in known:
            allowed = ", ".join(sorted(known)) or "none"
            raise ConfigError(f"unknown option for this scheme (allowed: {allowed})", key=f"{where}.{name}")


def secret_option(options: Mapping[str, Any], name: str, where: str, *, required: bool) -> Secret | None:
    """A secret option: a Secret (as the loader gives it) or a plain string; never empty or multi-line."""
    value = options.get(name)
    key = f"{where}.{name}"
    if value is None:
        if required:
            raise ConfigError("required option is missing", key=key)
        return None
    if isinstance(value, str):
        value = Secret(value, "inline")
    if not isinstance(value, Secret):
        raise ConfigError("expected a secret string or a ${env:NAME} / ${file:/path} reference", key=key)
    text = value.reveal()
    if not text or not _UNSAFE.isdisjoint(text) or text != text.strip():
        raise ConfigError("must be a non-empty single line without surrounding whitespace", key=key)
    return value


def site_key_option(options: Mapping[str, Any], where: str, *, required: bool) -> Secret | None:
    """CIVICRM_SITE_KEY: the server refuses keys shorter than 8 characters for key-based auth."""
    secret = secret_option(options, "site_key", where, required=required)
    if secret is not None and len(secret.reveal()) < MIN_SITE_KEY_LENGTH:
        raise ConfigError(
            f"a CiviCRM site key has at least {MIN_SITE_KEY_LENGTH} characters (the server refuses shorter)",
            key=f"{where}.site_key",
        )
    return secret


def identity_text(identity: Identity, name: str) -> str:
    """The revealed identity field ``name``: present, non-empty, one line. The message never shows it."""
    secret = identity.get(name)
    if not isinstance(secret, Secret):
        raise GatewayError(f"CRM identity lacks {name}", reason=MISCONFIGURED, status=500)
    value = secret.reveal()
    if not value or not _UNSAFE.isdisjoint(value):
        raise GatewayError(f"CRM identity {name} is empty or not one line", reason=MISCONFIGURED, status=500)
    return value


def drop_params(request: OutboundRequest, names: Collection[str]) -> None:
    """Defence in depth: no client copy of a credential parameter survives next to the injected one."""
    request.query[:] = [(k, v) for k, v in request.query if k not in names]
    if request.form is not None:
        request.form[:] = [(k, v) for k, v in request.form if k not in names]


class CiviKeysSigner:
    scheme: ClassVar[str] = "civicrm-keys"
    identity_fields: ClassVar[frozenset[str]] = frozenset({"api_key"})

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
        request.query.append(("key", self._site_key.reveal()))
        request.query.append(("api_key", api_key))

    def __repr__(self) -> str:
        return f"CiviKeysSigner(site_key={self._site_key!r})"


register(
    CiviKeysSigner.scheme,
    SignerSpec(
        factory=CiviKeysSigner.from_options,
        identity_fields=CiviKeysSigner.identity_fields,
        dialects=CIVICRM_DIALECTS,
    ),
)
