"""Which upstream a request is for: by listener port, Host header and/or path prefix, longest prefix first.

A port named by an upstream's ``match.port`` is that upstream's own listener: a request arriving there
is matched only against the upstreams of that port (each CRM at its root URL, no DNS needed); a request
on any other listener only against the upstreams without a port.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from gateway.config.model import UpstreamConfig


class Router:
    def __init__(self, upstreams: Sequence[UpstreamConfig]) -> None:
        def weight(up: UpstreamConfig) -> tuple[int, int]:
            return (1 if up.hosts else 0, len(up.path_prefix or ""))

        ordered = sorted(upstreams, key=weight, reverse=True)
        self._ordered = [up for up in ordered if up.port is None]
        self._by_port: dict[int, list[UpstreamConfig]] = {}
        for up in ordered:
            if up.port is not None:
                self._by_port.setdefault(up.port, []).append(up)

    @property
    def ports(self) -> tuple[int, ...]:
        """The listener ports upstreams claim (each needs its own listening socket)."""
        return tuple(sorted(self._by_port))

    def port_of(self, transport: asyncio.BaseTransport | None) -> int | None:
        """The local port a request arrived on, when any upstream is matched by port (else ``None``)."""
        if not self._by_port or transport is None:
            return None
        sockname = transport.get_extra_info("sockname")
        return sockname[1] if isinstance(sockname, tuple) and len(sockname) >= 2 else None

    def match(
        self, host: str | None, path: str, port: int | None = None
    ) -> tuple[UpstreamConfig, str] | None:
        """The upstream and the raw path relative to it (prefix stripped, always starting with '/')."""
        candidates = self._by_port.get(port, self._ordered) if port is not None else self._ordered
        hostname = _hostname(host)
        for up in candidates:
            if up.hosts and hostname not in up.hosts:
                continue
            prefix = up.path_prefix
            if prefix is None:
                return up, path or "/"
            if path == prefix:
                return up, "/"
            if path.startswith(prefix) and path[len(prefix)] == "/":
                return up, path[len(prefix) :]
        return None


def _hostname(host: str | None) -> str:
    if not host:
        return ""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
