"""Stop sending an identity's requests to a CRM that keeps refusing the gateway's own credential.

EspoCRM locks out the caller's IP after repeated failed logins, so hammering it with a bad key would lock
out every user behind the gateway. After ``failures`` consecutive 401s for one (upstream, identity) the
breaker opens for ``cooldown`` seconds, then lets one probe through (half-open): a 401 opens it again,
any other answer closes it. A probe that gets no answer at all (timeout, client gone) lets the next
request probe instead.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from gateway.errors import ServiceUnavailable

CLOSED, OPEN, HALF_OPEN = 0, 1, 2

Transition = Literal["opened", "half-open", "closed"]

log = logging.getLogger("gateway.breaker")


@dataclass(slots=True)
class _State:
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False


class CredentialBreaker:
    def __init__(self, failures: int, cooldown: float, clock: Callable[[], float]) -> None:
        self.threshold = max(1, failures)
        self.cooldown = cooldown
        self.clock = clock
        self._states: dict[str, _State] = {}

    def state(self, key: str) -> int:
        st = self._states.get(key)
        if st is None or st.opened_at is None:
            return CLOSED
        return HALF_OPEN if st.probing or self.clock() - st.opened_at >= self.cooldown else OPEN

    def failures(self, key: str) -> int:
        """Consecutive 401s for ``key`` so far."""
        st = self._states.get(key)
        return 0 if st is None else st.failures

    def check(self, key: str) -> bool:
        """Raise ServiceUnavailable while open; True when this request is the half-open probe."""
        st = self._states.get(key)
        if st is None or st.opened_at is None:
            return False
        waited = self.clock() - st.opened_at
        if waited < self.cooldown or st.probing:
            retry = max(1, math.ceil(self.cooldown - waited)) if waited < self.cooldown else 1
            raise ServiceUnavailable(
                "the CRM keeps refusing the gateway's credential for this integration; requests are paused",
                reason="upstream-credential-rejected",
                headers={"Retry-After": str(retry)},
            )
        st.probing = True
        return True

    def record(self, key: str, status: int | None, *, probe: bool = False) -> Transition | None:
        """Feed the upstream's answer (None: no answer) to one request; ``probe`` as ``check`` said.
        Returns the transition it caused, if any."""
        st = self._states.get(key)
        if status is None:
            if probe and st is not None:
                st.probing = False  # nothing learned: the next request probes
            return None
        if status != 401:
            if st is None:
                return None
            del self._states[key]
            return "closed" if st.opened_at is not None else None
        st = self._states.setdefault(key, _State())
        st.failures += 1
        if probe:
            st.probing = False
            st.opened_at = self.clock()
            return "opened"
        if st.opened_at is None and st.failures >= self.threshold:
            st.opened_at = self.clock()
            return "opened"
        return None


def log_transition(
    breaker: CredentialBreaker, key: str, upstream: str, identity_index: int, change: Transition
) -> None:
    """One line per state change, naming the upstream and the identity's index in the config (never a
    key or a subject)."""
    if change == "opened":
        log.warning(
            "breaker open: upstream %s answered HTTP 401 to the gateway's credential for identity #%d "
            "(%d consecutive); that identity's requests are refused for %g s",
            upstream,
            identity_index,
            breaker.failures(key),
            breaker.cooldown,
        )
    elif change == "half-open":
        log.info("breaker half-open: upstream %s, identity #%d: one probe request", upstream, identity_index)
    else:
        log.warning(
            "breaker closed: upstream %s accepts the credential for identity #%d again",
            upstream,
            identity_index,
        )
