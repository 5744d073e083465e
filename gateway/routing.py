"""Which upstream a request is for: by Host header and/or path prefix, longest prefix first."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.config.model import UpstreamConfig


class Router:
    def __init__(self, upstreams: Sequence[UpstreamConfig]) -> None:
        def weight(up: UpstreamConfig) -> tuple[int, int]:
            return (1 if up.hosts else 0, len(up.path_prefix or ""))

        self._ordered = sorted(upstreams, key=weight, reverse=True)

    def match(self, host: str | None, path: str) -> tuple[UpstreamConfig, str] | None:
        """The upstream and the raw path relative to it (prefix stripped, always starting with '/')."""
        hostname = _hostname(host)
        for up in self._ordered:
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
