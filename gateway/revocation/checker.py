"""The revocation check, right after a token is verified (JWT) or introspected (opaque), before policy.

A token named by a live entry is refused (401 ``token-revoked``). When the store cannot be read,
``on_error: deny`` refuses every token (503 ``revocation-unavailable``) and ``allow`` accepts it with a
warning in the log; a revoked token is never accepted silently.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from gateway.errors import AuthenticationError, ServiceUnavailable
from gateway.principal import Principal
from gateway.revocation.redis_store import RedisStore, RevocationUnavailable
from gateway.revocation.settings import RevocationConfig
from gateway.revocation.store import MemoryStore, RevocationStore, matching, targets

log = logging.getLogger("gateway.revocation")


class RevocationChecker:
    def __init__(
        self,
        store: RevocationStore,
        *,
        on_error: str = "deny",
        leeway_seconds: float = 30.0,
        on_refusal: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self._on_error = on_error
        self._leeway = leeway_seconds
        self._on_refusal = on_refusal or (lambda reason: None)

    def nothing_revoked(self) -> bool:
        """True when the list is known to be empty without asking anything (an empty in-memory store):
        ``check`` would then accept every token."""
        store = self.store
        return type(store) is MemoryStore and store.empty()

    async def check(self, principal: Principal) -> None:
        try:
            entries = await self.store.lookup(targets(principal))
        except RevocationUnavailable as exc:
            if self._on_error != "allow":
                self._on_refusal("unavailable")
                log.error("revocation list unavailable (%s): refusing tokens (on_error: deny)", exc)
                raise ServiceUnavailable(
                    "the revocation list cannot be read now; retry later",
                    reason="revocation-unavailable",
                    headers={"Retry-After": "5"},
                ) from None
            log.warning("revocation list unavailable (%s): token accepted unchecked (on_error: allow)", exc)
            return
        entry = matching(entries, principal, self._leeway)
        if entry is not None:
            self._on_refusal(entry.kind)
            raise AuthenticationError("token has been revoked", reason="token-revoked")

    async def ready(self) -> bool:
        ping = getattr(self.store, "ping", None)
        return True if ping is None else bool(await ping())

    async def close(self) -> None:
        await self.store.close()


def build_store(config: RevocationConfig, clock: Callable[[], float] = time.time) -> RevocationStore:
    if config.backend == "redis" and config.url is not None:
        return RedisStore(config.url.reveal(), prefix=config.prefix, timeout_ms=config.timeout_ms)
    return MemoryStore(clock)
