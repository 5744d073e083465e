"""Identity settings as plain frozen values (the config loader maps YAML onto them) and their checks."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway.auth.introspection_settings import IntrospectionSettings, check_prefixes, validate_introspection
from gateway.auth.keys import (
    ASYMMETRIC_ALGORITHMS,
    HMAC_ALGORITHMS,
    SUPPORTED_ALGORITHMS,
    KeyFormatError,
    parse_key_text,
)
from gateway.errors import ConfigError
from gateway.secrets import Secret
from gateway.wire.slots import AUTHORIZATION, TokenSlot

HMAC_MIN_SECRET_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
"""RFC 7518 section 3.2: an HMAC key at least as long as the hash output."""


@dataclass(frozen=True, slots=True)
class StaticKey:
    kid: str | None
    key: str
    """PEM text (public key or certificate) or JWK JSON text."""

    def __repr__(self) -> str:
        return f"StaticKey(kid={self.kid!r})"


@dataclass(frozen=True, slots=True)
class IssuerSettings:
    issuer: str
    audiences: tuple[str, ...]
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    jwks_url: str | None = None
    jwks_ttl_seconds: float = 300
    jwks_refetch_cooldown_seconds: float = 30
    jwks_timeout_seconds: float = 5
    static_keys: tuple[StaticKey, ...] = ()
    hs256_secrets: tuple[Secret, ...] = ()
    """HMAC secrets for the HS* algorithms listed in ``algorithms`` (at least 32/48/64 bytes)."""
    introspection: IntrospectionSettings | None = None
    """Opaque access tokens of this issuer are checked at its RFC 7662 introspection endpoint."""

    @property
    def verifies_jwts(self) -> bool:
        return bool(self.jwks_url or self.static_keys or self.hs256_secrets)


@dataclass(frozen=True, slots=True)
class AuthSettings:
    issuers: tuple[IssuerSettings, ...]
    slots: tuple[TokenSlot, ...] = (AUTHORIZATION,)
    """Where a client may put its token: the config loader resolves ``identity.token_slots`` (by
    default every slot a registered dialect declares)."""
    principal_claim: str = "sub"
    roles_claims: tuple[str, ...] = ("roles",)
    """Claim names; a name absent from the token is read as a dotted path (``realm_access.roles``)."""
    scopes_claim: str = "scope"
    leeway_seconds: float = 30
    max_lifetime_seconds: float = 86400
    required_claims: tuple[str, ...] = ("exp", "iat")
    """``exp`` is always required whatever this says: every token needs a bounded lifetime."""
    cache_size: int = 10000
    max_token_bytes: int = 8192


def validate(settings: AuthSettings) -> None:
    """Raise ConfigError (with a ``identity.issuers[i].field`` key) for unusable identity settings."""
    if not settings.issuers:
        raise ConfigError("at least one issuer is required", key="identity.issuers")
    seen: set[str] = set()
    for index, issuer in enumerate(settings.issuers):
        _validate_issuer(issuer, f"identity.issuers[{index}]")
        if issuer.issuer in seen:
            raise ConfigError(
                f"issuer {issuer.issuer!r} is listed twice", key=f"identity.issuers[{index}].issuer"
            )
        seen.add(issuer.issuer)
    check_prefixes(
        [
            (f"identity.issuers[{i}].introspection", issuer.introspection.token_prefix)
            for i, issuer in enumerate(settings.issuers)
            if issuer.introspection is not None
        ]
    )
    if not settings.slots:
        raise ConfigError("at least one token slot is required", key="identity.token_slots")
    if not settings.principal_claim:
        raise ConfigError("must not be empty", key="identity.principal_claim")
    _positive(settings.max_lifetime_seconds, "identity.max_token_lifetime_seconds")
    _positive(settings.cache_size, "identity.cache_size")
    _positive(settings.max_token_bytes, "identity.max_token_bytes")
    if settings.leeway_seconds < 0 or settings.leeway_seconds > 300:
        raise ConfigError("must be between 0 and 300 seconds", key="identity.leeway_seconds")


def _validate_issuer(issuer: IssuerSettings, where: str) -> None:
    if not issuer.issuer:
        raise ConfigError("must not be empty", key=f"{where}.issuer")
    if not issuer.audiences or not all(issuer.audiences):
        raise ConfigError("at least one non-empty audience is required", key=f"{where}.audiences")
    if issuer.introspection is not None:
        validate_introspection(issuer.introspection, f"{where}.introspection")
    if not issuer.verifies_jwts and issuer.introspection is None:
        raise ConfigError(
            f"issuer {issuer.issuer!r} has no key source (jwks_url, keys, hs256_secrets or introspection)",
            key=where,
        )
    if issuer.verifies_jwts:
        _validate_algorithms(issuer, where)
    if issuer.jwks_url is not None:
        url = urlsplit(issuer.jwks_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError("must be an http(s) URL", key=f"{where}.jwks_url")
    _positive(issuer.jwks_ttl_seconds, f"{where}.jwks_ttl_seconds")
    _positive(issuer.jwks_refetch_cooldown_seconds, f"{where}.jwks_refetch_cooldown_seconds")
    _positive(issuer.jwks_timeout_seconds, f"{where}.jwks_timeout_seconds")
    asymmetric = [a for a in issuer.algorithms if a in ASYMMETRIC_ALGORITHMS]
    for k_index, static in enumerate(issuer.static_keys):
        key_where = f"{where}.keys[{k_index}]"
        try:
            key = parse_key_text(static.key, static.kid)
        except KeyFormatError as exc:
            raise ConfigError(f"issuer {issuer.issuer!r}: {exc}", key=key_where) from None
        if not any(key.supports(a) for a in asymmetric):
            raise ConfigError(
                f"issuer {issuer.issuer!r}: {key.describe()} fits none of the algorithms "
                f"{', '.join(issuer.algorithms)}",
                key=key_where,
            )
    min_bytes = max((HMAC_MIN_SECRET_BYTES.get(a, 0) for a in issuer.algorithms), default=0)
    for s_index, secret in enumerate(issuer.hs256_secrets):
        if len(secret.reveal().encode("utf-8")) < min_bytes:
            raise ConfigError(
                f"issuer {issuer.issuer!r}: HMAC secret is shorter than {min_bytes} bytes",
                key=f"{where}.hs256_secrets[{s_index}]",
            )


def _validate_algorithms(issuer: IssuerSettings, where: str) -> None:
    key = f"{where}.algorithms"
    if not issuer.algorithms:
        raise ConfigError("at least one algorithm is required", key=key)
    for name in issuer.algorithms:
        if name.lower() == "none":
            raise ConfigError("algorithm 'none' is never accepted", key=key)
        if name not in SUPPORTED_ALGORITHMS:
            raise ConfigError(
                f"unknown algorithm {name!r}; supported: {', '.join(sorted(SUPPORTED_ALGORITHMS))}", key=key
            )
    hmac = [a for a in issuer.algorithms if a in HMAC_ALGORITHMS]
    if hmac and not issuer.hs256_secrets:
        raise ConfigError(f"{', '.join(hmac)} listed but the issuer has no hs256_secrets", key=key)
    if issuer.hs256_secrets and not hmac:
        raise ConfigError("hs256_secrets given but HS256 is not in algorithms", key=f"{where}.hs256_secrets")
    asymmetric = [a for a in issuer.algorithms if a in ASYMMETRIC_ALGORITHMS]
    if asymmetric and issuer.jwks_url is None and not issuer.static_keys:
        raise ConfigError(f"{', '.join(asymmetric)} listed but the issuer has no jwks_url or keys", key=key)


def _positive(value: float, key: str) -> None:
    if not value > 0:
        raise ConfigError("must be greater than 0", key=key)
