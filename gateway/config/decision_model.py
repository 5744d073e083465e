"""The ``decision:`` section as frozen values (parsed by ``gateway.config.decision``)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_PATH = "/_crm_gateway/authz"
DENIAL_SUFFIX = "/denial"
"""Appended to ``path``: where an nginx front proxy fetches the refusal its client should see."""


@dataclass(frozen=True, slots=True)
class DecisionConfig:
    """``enabled`` False (the default) registers no endpoint at all."""

    enabled: bool = False
    path: str = DEFAULT_PATH
    trusted_proxies: tuple[Network, ...] = ()
    upstreams: tuple[str, ...] = ()

    @property
    def denial_path(self) -> str:
        return self.path + DENIAL_SUFFIX

    def trusts(self, address: str | None) -> bool:
        """True when ``address`` (a peer IP, as ``request.remote`` gives it) is a trusted front proxy."""
        if not address:
            return False
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.trusted_proxies)

    def serves(self, upstream: str) -> bool:
        return self.enabled and upstream in self.upstreams
