"""One CRM as requests meet it: its settings, the dialect and signer built from them, its connection
pools, concurrency guard and credential breaker (built by gateway/assembly.py, swapped whole on reload)."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from gateway.config.model import UpstreamConfig
from gateway.dialects.base import Dialect
from gateway.proxy.breaker import CredentialBreaker
from gateway.proxy.guard import ConcurrencyGuard
from gateway.proxy.pool import Pool
from gateway.signers.base import Signer


@dataclass(slots=True)
class Upstream:
    config: UpstreamConfig
    dialect: Dialect
    signer: Signer
    session: aiohttp.ClientSession
    """aiohttp's pool: look-ups the gateway makes itself (gateway/acting.py)."""
    pool: Pool
    """Proxy mode's own keep-alive connections (gateway/proxy/pool.py)."""
    guard: ConcurrencyGuard
    breaker: CredentialBreaker
