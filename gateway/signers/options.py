"""The option and identity helpers every signer shares: checked at load time, read at sign time."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from gateway.errors import ConfigError, GatewayError
from gateway.secrets import Secret
from gateway.signers.base import Identity

MISCONFIGURED = "identity-misconfigured"
_UNSAFE = frozenset("\r\n\0")


def reject_unknown(options: Mapping[str, Any], where: str, known: Collection[str] = ()) -> None:
    """Raise ConfigError naming the first option this scheme does not know."""
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


def identity_text(identity: Identity, name: str) -> str:
    """The revealed identity field ``name``: present, non-empty, one line (so header-safe). The message
    never shows it."""
    secret = identity.get(name)
    if not isinstance(secret, Secret):
        raise GatewayError(f"CRM identity lacks {name}", reason=MISCONFIGURED, status=500)
    value = secret.reveal()
    if not value or "\n" in value or "\r" in value or "\0" in value:  # _UNSAFE, three C searches
        raise GatewayError(f"CRM identity {name} is empty or not one line", reason=MISCONFIGURED, status=500)
    return value
