"""Load-time checks of how upstreams are matched: listener ports that collide, and duplicate matches."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.config.model import UpstreamConfig
from gateway.configfile.source import Section
from gateway.errors import ConfigError


def check_listeners(
    upstreams_section: Section, listen_port: int, admin_port: int | None, upstreams: Sequence[UpstreamConfig]
) -> None:
    """Refuse (with file:line) a ``match.port`` that is the main or admin listener's, and two upstreams
    that would match exactly the same requests (same port, hosts and path prefix)."""
    seen: dict[tuple[int | None, frozenset[str], str | None], str] = {}
    for up in upstreams:
        match = upstreams_section.section(up.name).section("match", {})
        if up.port is not None:
            if up.port == listen_port:
                raise _error(match, "port", f"port {up.port} is the main listener's (listen.port)")
            if up.port == admin_port:
                raise _error(
                    match, "port", f"port {up.port} is the admin listener's (observability.admin.port)"
                )
        key = (up.port, frozenset(up.hosts), up.path_prefix)
        other = seen.get(key)
        if other is not None:
            what = "port" if match.has("port") else "path_prefix" if match.has("path_prefix") else "host"
            raise _error(match, what, f"matches exactly the same requests as upstream {other!r}")
        seen[key] = up.name


def _error(section: Section, name: str, reason: str) -> ConfigError:
    return ConfigError(reason, file=section.file, line=section.line_of(name), key=f"{section.key}.{name}")
