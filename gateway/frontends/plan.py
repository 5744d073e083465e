"""What a generated front-proxy config needs from gateway.yaml: the routes in the gateway's own order
(each decided or proxied), the decision upstreams' origins, and where the gateway listens."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway.config.model import GatewayConfig, UpstreamConfig
from gateway.errors import ConfigError
from gateway.frontends.cache import DecisionCache, checked_seconds

READ_METHODS = ("GET", "HEAD")
"""Bodyless reads go through the decision endpoint; every other method goes to proxy mode."""
ORIGINAL_HEADERS = (
    "X-Original-Method",
    "X-Original-URI",
    "X-Original-Content-Length",
    "X-Original-Transfer-Encoding",
)
"""What an nginx front proxy tells the decision about the original request (never the client's to set)."""
_HOST = re.compile(r"[a-z0-9][a-z0-9.-]*(:[0-9]{1,5})?|\[[0-9a-f:.]+\](:[0-9]{1,5})?")
_PREFIX = re.compile(r"(/[A-Za-z0-9_.~-]+)+")
_ADDRESS = re.compile(r"(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>[0-9]{1,5})")


@dataclass(frozen=True, slots=True)
class Route:
    upstream: str
    hosts: tuple[str, ...]
    prefix: str | None
    decide: bool


@dataclass(frozen=True, slots=True)
class Target:
    upstream: str
    scheme: str
    netloc: str
    """``host[:port]`` as in the upstream URL: the Host header the CRM gets, as in proxy mode."""

    @property
    def server(self) -> str:
        """``host:port`` with the scheme's default port filled in."""
        if self.netloc.rsplit(":", 1)[-1].isdigit() and not self.netloc.endswith("]"):
            return self.netloc
        return f"{self.netloc}:{443 if self.scheme == 'https' else 80}"

    @property
    def hostname(self) -> str:
        return urlsplit(f"//{self.netloc}").hostname or self.netloc


@dataclass(frozen=True, slots=True)
class Plan:
    listen: str
    gateway: str
    decision_path: str
    denial_path: str
    routes: tuple[Route, ...]
    targets: tuple[Target, ...]
    max_body_bytes: int
    cache: DecisionCache | None = None
    """nginx only: keep allow decisions this long (``--decision-cache-seconds``); None = ask every time."""

    @property
    def listen_host(self) -> str:
        return self.listen.rsplit(":", 1)[0]

    @property
    def listen_port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


def gateway_order(upstreams: tuple[UpstreamConfig, ...]) -> list[UpstreamConfig]:
    """The order ``gateway.routing.Router`` tries upstreams in: host-matched first, longest prefix first."""
    return sorted(upstreams, key=lambda up: (1 if up.hosts else 0, len(up.path_prefix or "")), reverse=True)


def address(text: str, what: str) -> str:
    match = _ADDRESS.fullmatch(text)
    if match is None or not 0 < int(match["port"]) < 65536:
        raise ConfigError(f"{what} must be HOST:PORT, got {text!r}")
    return text


def make_plan(
    config: GatewayConfig, *, listen: str, gateway: str | None, cache: DecisionCache | None = None
) -> Plan:
    decision = config.decision
    if not decision.enabled:
        raise ConfigError(
            "decision mode is off: add a decision: section (see docs/decision-mode.md)", file=config.file
        )
    if gateway is None:
        host = config.listen.host if config.listen.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        gateway = f"{host}:{config.listen.port}"
    routes = []
    for up in gateway_order(config.upstreams):
        if up.port is not None:
            continue  # served on its own gateway port, never through the front proxy's listener
        for host in up.hosts:
            if not _HOST.fullmatch(host):
                raise ConfigError(
                    f"upstream {up.name}: host {host!r} cannot be written into a front-proxy config"
                )
        if up.path_prefix is not None and not _PREFIX.fullmatch(up.path_prefix):
            raise ConfigError(
                f"upstream {up.name}: path prefix {up.path_prefix!r} has characters a front-proxy "
                "config cannot match"
            )
        routes.append(Route(up.name, up.hosts, up.path_prefix, decision.serves(up.name)))
    if cache is not None:
        checked_seconds(config, cache.seconds)
    targets = tuple(Target(up.name, *_origin(up)) for up in config.upstreams if decision.serves(up.name))
    return Plan(
        listen=address(listen, "--listen"),
        gateway=address(gateway, "--gateway"),
        decision_path=decision.path,
        denial_path=decision.denial_path,
        routes=tuple(routes),
        targets=targets,
        max_body_bytes=max(up.max_body_bytes for up in config.upstreams),
        cache=cache if cache is not None and cache.seconds > 0 else None,
    )


def _origin(up: UpstreamConfig) -> tuple[str, str]:
    parts = urlsplit(up.origin)
    return parts.scheme, parts.netloc
