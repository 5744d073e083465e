"""``identity.issuers[i].introspection`` (YAML) -> IntrospectionSettings, secrets through references."""

from __future__ import annotations

from gateway.auth.introspection_settings import IntrospectionSettings, validate_introspection
from gateway.configfile.refs import SecretResolver
from gateway.configfile.source import Section
from gateway.errors import ConfigError
from gateway.secrets import Secret


def parse_introspection(s: Section, refs: SecretResolver) -> IntrospectionSettings:
    def secret(name: str) -> Secret | None:
        value = s.get(name, (str, int), None)
        return None if value is None else refs.secret(value, key=f"{s.key}.{name}", line=s.line_of(name))

    settings = IntrospectionSettings(
        url=refs.text(s.get("url", str), key=f"{s.key}.url", line=s.line_of("url")),
        client_id=s.get("client_id", str),
        auth_method=s.get("auth", str, "client_secret_basic"),
        client_secret=secret("client_secret"),
        private_key=secret("private_key"),
        key_id=s.get("key_id", str, None),
        assertion_algorithm=s.get("assertion_algorithm", str, "RS256"),
        assertion_audience=s.get("assertion_audience", str, None),
        cache_ttl_seconds=s.get("cache_ttl_seconds", float, 300.0),
        negative_cache_seconds=s.get("negative_cache_seconds", float, 5.0),
        cache_size=s.get("cache_size", int, 10000),
        timeout_seconds=s.get("timeout_seconds", float, 3.0),
        max_concurrent_lookups=s.get("max_concurrent_lookups", int, 32),
        on_error=s.get("on_error", str, "deny"),
        token_prefix=s.get("token_prefix", str, ""),
    )
    s.done()
    try:
        validate_introspection(settings, s.key)
    except ConfigError as exc:
        name = exc.key.rsplit(".", 1)[-1]
        raise ConfigError(exc.reason, file=s.file, line=s.line_of(name), key=exc.key) from None
    return settings
