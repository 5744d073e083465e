"""Router: listener ports are dedicated; host and longest path prefix decide within a listener."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.config.model import UpstreamConfig
from gateway.routing import Router


def upstream(
    name: str, *, prefix: str | None = None, hosts: tuple[str, ...] = (), port: int | None = None
) -> Any:
    return UpstreamConfig(
        name=name,
        dialect_name="espocrm",
        origin="http://127.0.0.1:9",
        base_path="",
        path_prefix=prefix,
        hosts=hosts,
        scheme="espo-apikey",
        port=port,
    )


ROUTER = Router(
    [
        upstream("espo", prefix="/espo"),
        upstream("root-espo", port=8081),
        upstream("root-civi", port=8082),
        upstream("host-civi", port=8082, hosts=("civi.example",)),
        upstream("by-host", hosts=("espo.example",)),
    ]
)


@pytest.mark.parametrize(
    ("host", "path", "port", "expected"),
    [
        ("gw", "/espo/api/v1/Lead", 8080, ("espo", "/api/v1/Lead")),
        ("gw", "/espo/api/v1/Lead", None, ("espo", "/api/v1/Lead")),
        ("gw", "/api/v1/Lead", 8080, None),
        ("gw", "/api/v1/Lead", 8081, ("root-espo", "/api/v1/Lead")),
        ("gw", "/espo/api/v1/Lead", 8081, ("root-espo", "/espo/api/v1/Lead")),
        ("gw", "/civicrm/ajax/api4/Contact/get", 8082, ("root-civi", "/civicrm/ajax/api4/Contact/get")),
        ("civi.example:8082", "/x", 8082, ("host-civi", "/x")),
        ("espo.example", "/api/v1/Lead", 8080, ("by-host", "/api/v1/Lead")),
        ("espo.example", "/api/v1/Lead", 8081, ("root-espo", "/api/v1/Lead")),
        ("gw", "/api/v1/Lead", None, None),
    ],
)
def test_match(host: str, path: str, port: int | None, expected: tuple[str, str] | None) -> None:
    found = ROUTER.match(host, path, port)
    assert (None if found is None else (found[0].name, found[1])) == expected


class _Transport(asyncio.BaseTransport):
    def __init__(self, sockname: Any) -> None:
        super().__init__()
        self._sockname = sockname

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._sockname if name == "sockname" else default


def test_port_of_reads_the_local_socket_only_when_ports_are_routed() -> None:
    assert ROUTER.ports == (8081, 8082)
    assert ROUTER.port_of(_Transport(("127.0.0.1", 8081))) == 8081
    assert ROUTER.port_of(_Transport(("::1", 8082, 0, 0))) == 8082
    assert ROUTER.port_of(None) is None
    assert Router([upstream("espo", prefix="/espo")]).port_of(_Transport(("127.0.0.1", 8081))) is None
