"""Principal -> who it is on each CRM, from the config's identity rules (first match wins)."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.auth.principal import Principal
from gateway.config.model import IdentityRule
from gateway.errors import Forbidden
from gateway.signers.base import Identity


class IdentityMap:
    def __init__(self, rules: Sequence[IdentityRule]) -> None:
        self.rules = tuple(rules)

    def lookup(self, principal: Principal, upstream: str) -> tuple[int, Identity]:
        """The rule index (a bounded, non-identifying label for metrics) and the identity."""
        for index, rule in enumerate(self.rules):
            if upstream in rule.crm and rule.matches(principal.claims):
                return index, rule.crm[upstream]
        raise Forbidden("this integration has no identity on this CRM", reason="no-identity")
