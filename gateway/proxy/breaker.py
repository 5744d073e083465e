"""Stop sending an identity's requests to a CRM that keeps refusing the gateway's own credential.

EspoCRM locks out the caller's IP after repeated failed logins, so hammering it with a bad key would lock
out every user behind the gateway. After ``failures`` consecutive 401s for one (upstream, identity) the
breaker opens for ``cooldown`` seconds, then lets one probe through (half-open).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from gateway.errors import ServiceUnavailable

CLOSED, OPEN, HALF_OPEN = 0, 1, 2


@dataclass(slots=True)
class _State:
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False


class CredentialBreaker:
    def __init__(self, failures: int, cooldown: float, clock: Callable[[], float]) -> None:
        self.threshold = failures
        self.cooldown = cooldown
        self.clock = clock
        self._states: dict[str, _State] = {}

    def state(self, key: str) -> int:
        st = self._states.get(key)
        if st is None or st.opened_at is None:
            return CLOSED
        return HALF_OPEN if self.clock() - st.opened_at >= self.cooldown else OPEN

    def check(self, key: str) -> None:
        st = self._states.get(key)
        if st is None or st.opened_at is None:
            return
        waited = self.clock() - st.opened_at
        if waited < self.cooldown or st.probing:
            retry = max(1, math.ceil(self.cooldown - waited)) if waited < self.cooldown else 1
            raise ServiceUnavailable(
                "the CRM keeps refusing the gateway's credential for this integration; requests are paused",
                reason="upstream-credential-rejected",
                headers={"Retry-After": str(retry)},
            )
        st.probing = True

    def record(self, key: str, status: int) -> str | None:
        """Feed the upstream status; returns "opened" or "closed" on a transition."""
        st = self._states.setdefault(key, _State())
        if status == 401:
            st.failures += 1
            was_probe = st.probing
            st.probing = False
            if was_probe or (st.opened_at is None and st.failures >= self.threshold):
                st.opened_at = self.clock()
                return "opened"
            return None
        was_open = st.opened_at is not None
        self._states.pop(key, None)
        return "closed" if was_open else None
