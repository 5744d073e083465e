"""gateway.yaml -> GatewayConfig. Every error names file, line, key and reason; no secret is ever shown."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.auth.settings import AuthSettings, IssuerSettings, StaticKey, validate
from gateway.config.decision import parse_decision
from gateway.config.introspection import parse_introspection
from gateway.config.listeners import check_listeners
from gateway.config.model import (
    GatewayConfig,
    ListenConfig,
    ObservabilityConfig,
    RateLimitConfig,
    UpstreamConfig,
)
from gateway.config.revocation import parse_revocation
from gateway.config.upstreams import parse_upstreams
from gateway.configfile.refs import SecretResolver
from gateway.configfile.source import Section, load_yaml_file, load_yaml_text
from gateway.configfile.sources import recording
from gateway.dialects.credentials import TOKEN_SLOTS
from gateway.errors import ConfigError
from gateway.identity.config import Upstream as IdentityUpstream
from gateway.identity.config import parse_identities, parse_lookups
from gateway.identity.spec import IdentityRule, LookupConfig
from gateway.policy.limits import parse_limit_rules
from gateway.policy.policies import Policies, load_policies
from gateway.secrets import Secret


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """A config file. Its ``identities`` and ``policies`` must be present (``[]`` for none): a file read
    while it is being written must not load as "no identities, no policies"."""
    with recording() as read:
        config = build_config(load_yaml_file(path), str(path), environ, complete=True)
    return dataclasses.replace(config, sources=tuple(read.values()))


def load_config_text(
    text: str, file: str = "<config>", environ: Mapping[str, str] | None = None
) -> GatewayConfig:
    return build_config(load_yaml_text(text, file), file, environ)


def build_config(
    data: Any, file: str, environ: Mapping[str, str] | None = None, *, complete: bool = False
) -> GatewayConfig:
    """``complete``: require the ``identities`` and ``policies`` sections (see ``load_config``)."""
    root = Section(data if data is not None else {}, file, "")
    refs = SecretResolver(file, environ)
    listen = _listen(root.section("listen", {}))
    auth = _auth(root.section("identity"), refs)
    parsed = parse_upstreams(root.section("upstreams"), refs)
    upstreams = tuple(p.config for p in parsed)
    identities, lookups = _identities(root, refs, upstreams)
    upstream_dialects = {up.name: up.dialect_name for up in upstreams}
    policies = _policies(root, file, upstream_dialects)
    ratelimit = _ratelimit(root.section("ratelimit", {"backend": "memory"}), refs, upstream_dialects)
    observability = _observability(root.section("observability", {}))
    limiter_url = ratelimit.url if ratelimit.backend == "redis" else None
    revocation = parse_revocation(root.section("revocation", {}), refs, limiter_url)
    decision = parse_decision(root.section("decision", {}), parsed, policies, identities)
    root.done()
    check_listeners(root.section("upstreams"), listen.port, observability.admin_port, upstreams)
    if complete:
        _require(root, "identities", "policies")
    return GatewayConfig(
        file=file,
        listen=listen,
        auth=auth,
        upstreams=upstreams,
        identities=identities,
        policies=policies,
        ratelimit=ratelimit,
        observability=observability,
        warnings=tuple(refs.warnings),
        secrets=tuple(refs.secrets),
        decision=decision,
        lookups=lookups,
        revocation=revocation,
    )


def _listen(s: Section) -> ListenConfig:
    host = s.get("host", str, "127.0.0.1")
    port = s.get("port", int, 8080)
    if not 0 <= port <= 65535:
        raise s.error("port", "must be between 0 and 65535")
    keepalive = s.get("keepalive_timeout_seconds", float, 75.0)
    header = s.get("header_timeout_seconds", float, 10.0)
    connections = s.get("max_connections", int, None)
    for key, value in (("keepalive_timeout_seconds", keepalive), ("header_timeout_seconds", header)):
        if not 0 < value <= 3600:
            raise s.error(key, "must be more than 0 and at most 3600 seconds")
    if connections is not None and connections < 1:
        raise s.error("max_connections", "must be at least 1")
    s.done()
    return ListenConfig(
        host=host,
        port=port,
        keepalive_timeout_seconds=keepalive,
        header_timeout_seconds=header,
        max_connections=connections,
    )


def tls_or_loopback(url: str) -> bool:
    """An https URL, or one that never leaves the machine (a sidecar, tests)."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "http":
        return True
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _auth(s: Section, refs: SecretResolver) -> AuthSettings:
    issuers_raw = s.get("issuers", list)
    if not issuers_raw:
        raise s.error("issuers", "at least one issuer is required")
    issuers = []
    for i, raw in enumerate(issuers_raw):
        iss = Section(raw, s.file, f"{s.key}.issuers[{i}]")
        static = []
        for j, key_raw in enumerate(iss.get("keys", list, [])):
            k = Section(key_raw, s.file, f"{iss.key}.keys[{j}]")
            kid = k.get("kid", str, None)
            if k.has("pem") == k.has("jwk"):
                raise k.error("pem", "give exactly one of pem or jwk")
            if k.has("pem"):
                text = refs.text(k.get("pem", str), key=f"{k.key}.pem", line=k.line_of("pem"))
            else:
                jwk = k.get("jwk", (str, dict))
                text = jwk if isinstance(jwk, str) else json.dumps(jwk)
                text = refs.text(text, key=f"{k.key}.jwk", line=k.line_of("jwk"))
            k.done()
            static.append(StaticKey(kid=kid, key=text))
        secrets = tuple(
            refs.secret(v, key=f"{iss.key}.hs256_secrets[{n}]", line=iss.line_of("hs256_secrets"))
            for n, v in enumerate(iss.get("hs256_secrets", list, []))
        )
        jwks_raw = iss.get("jwks_url", str, None)
        jwks_url = (
            refs.text(jwks_raw, key=f"{iss.key}.jwks_url", line=iss.line_of("jwks_url")) if jwks_raw else None
        )
        if jwks_url and not tls_or_loopback(jwks_url):
            refs.warnings.append(
                f"{iss.file}:{iss.line_of('jwks_url')}: {iss.key}.jwks_url: fetched without TLS; use https://"
            )
        introspection = (
            parse_introspection(iss.section("introspection"), refs) if iss.has("introspection") else None
        )
        if introspection is not None and not tls_or_loopback(introspection.url):
            refs.warnings.append(
                f"{iss.file}:{iss.line_of('introspection')}: {iss.key}.introspection.url: tokens are sent "
                "without TLS; use https://"
            )
        issuers.append(
            IssuerSettings(
                issuer=iss.get("issuer", str),
                audiences=tuple(iss.str_list("audiences")),
                algorithms=tuple(iss.str_list("algorithms", ["RS256", "ES256"])),
                jwks_url=jwks_url,
                jwks_ttl_seconds=iss.get("jwks_ttl_seconds", float, 300.0),
                jwks_refetch_cooldown_seconds=iss.get("jwks_refetch_cooldown_seconds", float, 30.0),
                jwks_timeout_seconds=iss.get("jwks_timeout_seconds", float, 5.0),
                static_keys=tuple(static),
                hs256_secrets=secrets,
                introspection=introspection,
            )
        )
        iss.done()
    names = tuple(s.str_list("token_slots", list(TOKEN_SLOTS)))
    for name in names:
        if name not in TOKEN_SLOTS:
            raise s.error("token_slots", f"unknown slot {name!r}; known: {', '.join(TOKEN_SLOTS)}")
    slots = tuple(TOKEN_SLOTS[name] for name in names)
    settings = AuthSettings(
        issuers=tuple(issuers),
        slots=slots,
        principal_claim=s.get("principal_claim", str, "sub"),
        roles_claims=tuple(s.str_list("roles_claims", ["roles"])),
        scopes_claim=s.get("scopes_claim", str, "scope"),
        leeway_seconds=s.get("leeway_seconds", float, 30.0),
        max_lifetime_seconds=s.get("max_token_lifetime_seconds", float, 86400.0),
        required_claims=tuple(s.str_list("required_claims", ["exp", "iat"])),
        cache_size=s.get("cache_size", int, 10000),
        max_token_bytes=s.get("max_token_bytes", int, 8192),
    )
    s.done()
    try:
        validate(settings)
    except ConfigError as exc:
        raise ConfigError(exc.reason, file=s.file, line=s.line, key=exc.key or s.key) from None
    return settings


def _identities(
    root: Section, refs: SecretResolver, upstreams: tuple[UpstreamConfig, ...]
) -> tuple[tuple[IdentityRule, ...], dict[str, LookupConfig]]:
    known = {up.name: IdentityUpstream(up.name, up.scheme, up.dialect_name) for up in upstreams}
    lookups = parse_lookups(root.section("lookups", {}), refs, known)
    rules = parse_identities(root.get("identities", list, []), root.file, refs, known, frozenset(lookups))
    return rules, lookups


def _require(root: Section, *names: str) -> None:
    for name in names:
        if root.raw(name) is None:
            raise ConfigError(
                f"required; write `{name}: []` for none (a file without it may be half-written)",
                file=root.file,
                line=root.line,
                key=name,
            )


def _policies(root: Section, file: str, upstream_dialects: Mapping[str, str]) -> Policies:
    entries = root.str_list("policies", [])
    base = Path(file).resolve().parent if not file.startswith("<") else Path.cwd()
    paths = [p if p.is_absolute() else base / p for p in (Path(e) for e in entries)]
    return load_policies(paths, upstream_dialects)


def _ratelimit(s: Section, refs: SecretResolver, upstream_dialects: Mapping[str, str]) -> RateLimitConfig:
    backend = s.choice("backend", ("memory", "redis"), "memory")
    url = s.raw("url")
    if backend == "redis" and not url:
        raise s.error("url", "the redis backend needs a url")
    config = RateLimitConfig(
        backend=backend,
        url=Secret(refs.text(str(url), key=f"{s.key}.url", line=s.line_of("url")), "ratelimit.url")
        if url
        else None,
        on_error=s.choice("on_error", ("allow", "deny", "local"), "local"),
        timeout_ms=s.get("timeout_ms", int, 50),
        prefix=s.get("prefix", str, "crmgw:rl:"),
        max_keys=s.get("max_keys", int, 100_000),
        limits=tuple(
            parse_limit_rules(
                s.get("limits", list, []), file=s.file, key=f"{s.key}.limits", line=s.line_of("limits")
            )
        ),
    )
    if any(rule.entity is not None or rule.action is not None for rule in config.limits):
        raise s.error(
            "limits", "gateway-wide limits cover whole requests; put entity/action limits in a policy"
        )
    s.done()
    return config


def _observability(s: Section) -> ObservabilityConfig:
    admin = s.section("admin", {})
    config = ObservabilityConfig(
        access_log=s.get("access_log", bool, True),
        log_level=s.choice("log_level", ("debug", "info", "warning", "error"), "info"),
        metrics=s.get("metrics", bool, True),
        principal_label=s.get("principal_label", bool, False),
        admin_host=admin.get("host", str, None),
        admin_port=admin.get("port", int, None),
    )
    admin.done()
    s.done()
    return config
