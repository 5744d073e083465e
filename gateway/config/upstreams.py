"""``upstreams:`` in gateway.yaml -> UpstreamConfig per CRM: dialect, URL, match, signer, timeouts, limits."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar
from urllib.parse import urlsplit

from gateway.config.model import DEFAULT_MAX_ANSWER_BYTES, Timeouts, UpstreamConfig
from gateway.configfile.refs import SecretResolver
from gateway.configfile.source import Section
from gateway.dialects import registry as dialects
from gateway.dialects.base import Dialect
from gateway.errors import ConfigError
from gateway.signers import registry as signers
from gateway.signers.base import Signer

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Parsed:
    """An upstream's settings, and the dialect and signer built from them once at load to validate them
    (the decision section asks them what a front proxy can apply). The config keeps only ``config``."""

    config: UpstreamConfig
    dialect: Dialect
    signer: Signer


def parse_upstreams(s: Section, refs: SecretResolver) -> tuple[Parsed, ...]:
    out: list[Parsed] = []
    for name, _ in list(s.items()):
        out.append(_upstream(s.section(name), name, refs))
    if not out:
        raise ConfigError("at least one upstream is required", file=s.file, line=s.line, key=s.key)
    return tuple(out)


def _upstream(u: Section, name: str, refs: SecretResolver) -> Parsed:
    dialect_name = u.get("dialect", str)
    factory = dialects.factory_for(dialect_name)
    if factory is None:
        raise u.error("dialect", f"unknown dialect {dialect_name!r}; known: {', '.join(dialects.names())}")
    url = refs.text(u.get("url", str), key=f"{u.key}.url", line=u.line_of("url"))
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise u.error("url", "must be an absolute http:// or https:// URL")
    if parts.query or parts.fragment:
        raise u.error("url", "must not carry a query or fragment")
    base_path = parts.path.rstrip("/")
    match = u.section("match", {})
    prefix = match.get("path_prefix", str, None)
    if prefix is not None:
        prefix = "/" + prefix.strip("/") if prefix.strip("/") else None
    hosts = tuple(h.lower() for h in match.str_list("host", []))
    port = match.get("port", int, None)
    if port is not None and not 1 <= port <= 65535:
        raise match.error("port", "must be between 1 and 65535 (a fixed port: the upstream's own listener)")
    match.done()
    options = MappingProxyType(dict(u.get("options", dict, {})))
    requested_with = u.get("requested_with", bool, True)
    dialect = _located(u, "options", lambda: factory(options, f"{u.key}.options"))
    for weakening in getattr(dialect, "weakenings", ()):
        refs.warnings.append(f"{u.file}:{u.line_of('options')}: {u.key}.options: {weakening}")
    auth = u.section("auth")
    scheme = auth.get("scheme", str)
    spec = signers.spec_for(scheme)
    if spec is None:
        raise auth.error("scheme", f"unknown scheme {scheme!r}; known: {', '.join(signers.schemes())}")
    if dialect_name not in spec.dialects:
        raise auth.error("scheme", f"scheme {scheme} does not speak the {dialect_name} dialect")
    auth_options: dict[str, Any] = {}
    credential_names = signers.credential_names()
    for key, value in auth.items():
        if key == "scheme":
            continue
        line = auth.line_of(key)
        if key in spec.secret_options or key in credential_names:
            auth_options[key] = refs.secret(value, key=f"{auth.key}.{key}", line=line)
        elif isinstance(value, str):
            auth_options[key] = refs.text(value, key=f"{auth.key}.{key}", line=line)
        else:
            auth_options[key] = value
    _from_dialect(auth, dialect.signer_settings, spec.options, auth_options)
    signer = _located(auth, "scheme", lambda: spec.factory(auth_options, auth.key))
    t = u.section("timeouts", {})
    timeouts = Timeouts(
        connect=t.get("connect_seconds", float, 5.0),
        read=t.get("read_seconds", float, 60.0),
        total=t.get("total_seconds", float, 300.0),
    )
    t.done()
    lim = u.section("limits", {})
    breaker = u.section("breaker", {})
    config = UpstreamConfig(
        name=name,
        dialect_name=dialect_name,
        origin=f"{parts.scheme}://{parts.netloc}",
        base_path=base_path,
        path_prefix=prefix,
        hosts=hosts,
        scheme=scheme,
        dialect_options=options,
        signer_options=MappingProxyType(dict(auth_options)),
        timeouts=timeouts,
        max_body_bytes=u.get("max_body_bytes", int, 10 * 1024 * 1024),
        max_answer_bytes=_max_answer_bytes(u),
        requested_with=requested_with,
        max_connections=lim.get("max_connections", int, 100),
        max_concurrency=lim.get("max_concurrency", int, None),
        queue_size=lim.get("queue_size", int, 0),
        queue_timeout_seconds=lim.get("queue_timeout_seconds", float, 5.0),
        breaker_failures=breaker.get("failures", int, 5),
        breaker_cooldown_seconds=breaker.get("cooldown_seconds", float, 60.0),
        port=port,
    )
    lim.done()
    breaker.done()
    u.done()
    if prefix is None and not hosts and port is None:
        raise ConfigError(
            "give match.path_prefix, match.host, match.port or a combination",
            file=u.file,
            line=u.line,
            key=f"{u.key}.match",
        )
    return Parsed(config, dialect, signer)


def _located(section: Section, name: str, build: Callable[[], T]) -> T:
    """Run a plug-in factory; a ConfigError it raises gets this file and the line of the key it names
    (or of ``name``, the section the factory was given)."""
    try:
        return build()
    except ConfigError as exc:
        if exc.line is not None and exc.file == section.file:
            raise
        last = exc.key.rsplit(".", 1)[-1]
        line = section.line_of(last) if section.has(last) else section.line_of(name)
        raise ConfigError(exc.reason, file=section.file, line=line, key=exc.key) from None


def _from_dialect(
    auth: Section, settings: Mapping[str, Any], accepted: frozenset[str], options: dict[str, Any]
) -> None:
    """Settings the signer shares with the dialect (EspoCRM's api_path) are configured once, in the
    upstream's ``options``; the same key under ``auth`` is accepted only when it says the same."""
    for key, value in settings.items():
        if key not in accepted:
            continue
        if key in options and options[key] != value:
            raise auth.error(
                key, f"differs from the upstream's options.{key} ({value!r}); set it once, in options"
            )
        options[key] = value


def _max_answer_bytes(u: Section) -> int:
    value: int = u.get("max_answer_bytes", int, DEFAULT_MAX_ANSWER_BYTES)
    if value < 1024:
        raise u.error("max_answer_bytes", "must be at least 1024 bytes")
    return value
