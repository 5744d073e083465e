"""Redis Sentinel URLs, read the same way by the rate limiter and the revocation store:
``redis+sentinel://[[user]:[password]@]host[:port][,host[:port]...]/service_name[/db][?sentinel_password=]``
(``rediss+sentinel://`` for TLS to the master)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote


@dataclass(frozen=True, slots=True)
class SentinelSpec:
    nodes: list[tuple[str, int]]
    service_name: str
    db: int
    username: str | None
    password: str | None
    sentinel_password: str | None
    ssl: bool

    def __repr__(self) -> str:  # never show the passwords
        return f"SentinelSpec(nodes={self.nodes!r}, service_name={self.service_name!r}, db={self.db})"


def parse_sentinel_url(url: str) -> SentinelSpec:
    """Split ``redis+sentinel://[[user]:[password]@]host[:port],.../service_name[/db][?sentinel_password=]``."""
    scheme, _, rest = url.partition("://")
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, _, hosts = netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    service_name, _, db = path.partition("/")
    if not hosts or not service_name:
        raise ValueError("a Sentinel URL needs host[:port][,host[:port]...]/service_name")
    if db and not db.isdigit():
        raise ValueError("the database of a Sentinel URL must be a number")
    sentinel_passwords = parse_qs(query).get("sentinel_password", [])
    return SentinelSpec(
        nodes=[_host_port(host) for host in hosts.split(",")],
        service_name=unquote(service_name),
        db=int(db or 0),
        username=unquote(username) or None,
        password=unquote(password) or None,
        sentinel_password=sentinel_passwords[0] if sentinel_passwords else None,
        ssl=scheme.lower().startswith("rediss"),
    )


def _host_port(node: str) -> tuple[str, int]:
    if node.startswith("["):  # [ipv6]:port
        host, _, port = node[1:].partition("]")
        port = port.removeprefix(":")
    else:
        host, _, port = node.partition(":")
    if not host or (port and not port.isdigit()):
        raise ValueError("a Sentinel node must be host[:port]")
    return host, int(port) if port else 26379
