"""``revocation:`` (YAML) -> RevocationConfig. Redis defaults to the limiter's URL."""

from __future__ import annotations

from gateway.configfile.refs import SecretResolver
from gateway.configfile.source import Section
from gateway.revocation.settings import RevocationConfig
from gateway.secrets import Secret


def parse_revocation(s: Section, refs: SecretResolver, limiter_url: Secret | None) -> RevocationConfig:
    backend = s.choice("backend", ("memory", "redis"), "memory")
    url = s.get("url", str, None)
    secret_url = refs.secret(url, key=f"{s.key}.url", line=s.line_of("url")) if url else limiter_url
    if backend == "redis" and secret_url is None:
        raise s.error("backend", "redis needs revocation.url, or ratelimit.url with ratelimit.backend: redis")
    if backend == "memory" and url:
        raise s.error("url", "only with backend: redis")
    timeout_ms = s.get("timeout_ms", int, 50)
    if timeout_ms <= 0:
        raise s.error("timeout_ms", "must be greater than 0")
    prefix = s.get("prefix", str, "{crmgw-rv}:")
    if not prefix:
        raise s.error("prefix", "must not be empty")
    config = RevocationConfig(
        backend=backend,
        url=secret_url if backend == "redis" else None,
        prefix=prefix,
        timeout_ms=timeout_ms,
        on_error=s.choice("on_error", ("deny", "allow"), "deny"),
    )
    s.done()
    return config
