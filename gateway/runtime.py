"""Everything a request needs, built from one GatewayConfig (gateway/assembly.py); swapped whole on reload."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.admission_memo import AdmissionMemo
from gateway.auth.authenticator import Authenticator
from gateway.config.model import GatewayConfig
from gateway.identities import IdentityMap
from gateway.identity.people import PersonResolver
from gateway.observability.access_log import AccessLogger
from gateway.observability.metrics import GatewayMetrics
from gateway.policy.engine import PolicySet
from gateway.proxy.upstream import Upstream
from gateway.ratelimit.base import Limiter
from gateway.routing import Router


@dataclass(slots=True)
class Runtime:
    config: GatewayConfig
    router: Router
    authenticator: Authenticator
    identities: IdentityMap
    limiter: Limiter
    metrics: GatewayMetrics
    access_log: AccessLogger
    upstreams: dict[str, Upstream]
    policies: PolicySet
    """Built from ``config.policies``, with its decision and limit memos: they live as long as this
    runtime."""
    clock: Callable[[], float] = time.time
    """Wall time: only where a time is compared with a token's exp/iat (minting CRM tokens)."""
    monotonic: Callable[[], float] = time.monotonic
    """Every duration: request and upstream timings, breaker cooldowns, limiter refills, look-up TTLs."""
    people: PersonResolver = field(default_factory=lambda: PersonResolver({}, time.monotonic))
    admissions: AdmissionMemo = field(default_factory=AdmissionMemo)
    """What ``admit()`` concluded for requests it has seen (gateway/admission_memo.py); dropped on reload
    with the runtime."""

    async def close(self, *, close_limiter: bool = True, close_authenticator: bool = True) -> None:
        self.access_log.flush()  # the lines of the turn that closes it
        if close_authenticator:
            await self.authenticator.close()
        if close_limiter:
            await self.limiter.close()
        for up in self.upstreams.values():
            await up.pool.close()
            await up.session.close()
