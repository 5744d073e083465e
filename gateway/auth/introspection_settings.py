"""OAuth 2.0 Token Introspection (RFC 7662) settings of one issuer, and their load-time checks."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway.errors import ConfigError
from gateway.secrets import Secret

CLIENT_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
ASSERTION_ALGORITHMS = ("RS256", "ES256", "EdDSA")
ON_ERROR_MODES = ("deny", "cached")
"""What to do when the introspection endpoint cannot answer: ``deny`` refuses (503), ``cached`` keeps
accepting a token the IdP called active before, up to its ``exp``, and refuses every other one."""


@dataclass(frozen=True, slots=True)
class IntrospectionSettings:
    url: str
    client_id: str
    auth_method: str = "client_secret_basic"
    client_secret: Secret | None = None
    private_key: Secret | None = None
    """PEM private key for ``private_key_jwt``."""
    key_id: str | None = None
    assertion_algorithm: str = "RS256"
    assertion_audience: str | None = None
    """``aud`` of the client assertion; the introspection URL when not given."""
    cache_ttl_seconds: float = 300.0
    negative_cache_seconds: float = 5.0
    cache_size: int = 10000
    timeout_seconds: float = 3.0
    max_concurrent_lookups: int = 32
    """Introspection requests in flight at once; a look-up beyond them is refused at once (503), so a
    flood of made-up tokens, which no cache can absorb, cannot make the gateway flood the IdP."""
    on_error: str = "deny"
    token_prefix: str = ""
    """Opaque tokens starting with this go to this issuer (required when several issuers introspect)."""

    def __repr__(self) -> str:
        return f"IntrospectionSettings(url={self.url!r}, client_id={self.client_id!r})"


def validate_introspection(settings: IntrospectionSettings, where: str) -> None:
    url = urlsplit(settings.url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigError("must be an http(s) URL", key=f"{where}.url")
    if not settings.client_id:
        raise ConfigError("must not be empty", key=f"{where}.client_id")
    if settings.auth_method not in CLIENT_AUTH_METHODS:
        raise ConfigError(f"must be one of {', '.join(CLIENT_AUTH_METHODS)}", key=f"{where}.auth")
    if settings.auth_method == "private_key_jwt":
        if settings.private_key is None:
            raise ConfigError("private_key_jwt needs private_key", key=f"{where}.private_key")
        if settings.client_secret is not None:
            raise ConfigError("private_key_jwt takes no client_secret", key=f"{where}.client_secret")
        if settings.assertion_algorithm not in ASSERTION_ALGORITHMS:
            raise ConfigError(
                f"must be one of {', '.join(ASSERTION_ALGORITHMS)}", key=f"{where}.assertion_algorithm"
            )
        _check_private_key(settings, where)
    else:
        if settings.client_secret is None or not settings.client_secret:
            raise ConfigError(f"{settings.auth_method} needs client_secret", key=f"{where}.client_secret")
        if settings.private_key is not None:
            raise ConfigError(f"{settings.auth_method} takes no private_key", key=f"{where}.private_key")
    for name in ("cache_ttl_seconds", "negative_cache_seconds", "timeout_seconds"):
        if not getattr(settings, name) > 0:
            raise ConfigError("must be greater than 0", key=f"{where}.{name}")
    if settings.negative_cache_seconds > 60:
        raise ConfigError(
            "must be at most 60 seconds (an inactive answer is cached briefly)",
            key=f"{where}.negative_cache_seconds",
        )
    if settings.cache_size < 1:
        raise ConfigError("must be at least 1", key=f"{where}.cache_size")
    if not 1 <= settings.max_concurrent_lookups <= 10000:
        raise ConfigError("must be from 1 to 10000", key=f"{where}.max_concurrent_lookups")
    if settings.on_error not in ON_ERROR_MODES:
        raise ConfigError(
            f"must be one of {', '.join(ON_ERROR_MODES)} (never allow)", key=f"{where}.on_error"
        )
    if settings.token_prefix.count(".") or any(not ("!" <= c <= "~") for c in settings.token_prefix):
        raise ConfigError("must be printable ASCII without dots or spaces", key=f"{where}.token_prefix")


def _check_private_key(settings: IntrospectionSettings, where: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    assert settings.private_key is not None
    try:
        key = serialization.load_pem_private_key(settings.private_key.reveal().encode(), password=None)
    except (ValueError, TypeError):
        raise ConfigError("is not an unencrypted PEM private key", key=f"{where}.private_key") from None
    wanted = {
        "RS256": rsa.RSAPrivateKey,
        "ES256": ec.EllipticCurvePrivateKey,
        "EdDSA": ed25519.Ed25519PrivateKey,
    }
    if not isinstance(key, wanted[settings.assertion_algorithm]):
        raise ConfigError(
            f"the key does not fit assertion_algorithm {settings.assertion_algorithm}",
            key=f"{where}.private_key",
        )


def check_prefixes(prefixes: list[tuple[str, str]]) -> None:
    """``(where, token_prefix)`` of every introspecting issuer: with several, each needs its own prefix
    and none may start another, so an opaque token goes to exactly one IdP."""
    if len(prefixes) < 2:
        return
    for i, (where, prefix) in enumerate(prefixes):
        if not prefix:
            raise ConfigError(
                "several issuers introspect opaque tokens: each needs a token_prefix",
                key=f"{where}.token_prefix",
            )
        for other_where, other in prefixes[:i]:
            if prefix.startswith(other) or other.startswith(prefix):
                raise ConfigError(
                    f"token_prefix overlaps the one of {other_where}", key=f"{where}.token_prefix"
                )
