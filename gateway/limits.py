"""Which rate limits a request is charged against, and how much each costs."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from gateway.auth.principal import Principal
from gateway.config.model import GatewayConfig
from gateway.dialects.base import Operation
from gateway.policy.model import LimitRule
from gateway.ratelimit.base import Limit, limit_key


def _request_wide(rules: Sequence[LimitRule], ops: Sequence[Operation]) -> list[tuple[LimitRule, int]]:
    return [(rule, max(1, len(ops))) for rule in rules]


def _scope(rule: LimitRule, principal: Principal, upstream: str) -> str:
    if rule.per == "principal":
        return hashlib.blake2b(
            f"{principal.issuer}\0{principal.subject}".encode(), digest_size=12
        ).hexdigest()
    if rule.per == "upstream":
        return upstream
    return "*"


def limits_for_request(
    config: GatewayConfig, principal: Principal, upstream: str, ops: Sequence[Operation]
) -> list[tuple[Limit, int]]:
    """Each applicable limit with its cost: the number of operations the rule covers (so a batch of
    six calls costs six, and an entity rule is charged only for that entity's operations)."""
    charges = [
        *_request_wide(config.ratelimit.limits, ops),
        *config.policies.charges_for(principal, upstream, ops),
    ]
    out: list[tuple[Limit, int]] = []
    seen: set[str] = set()
    for rule, cost in charges:
        key = limit_key(_scope(rule, principal, upstream), rule.policy, rule.name, upstream)
        if key in seen:
            continue
        seen.add(key)
        out.append(
            (Limit(key=key, rate_per_second=rule.rate_per_second, burst=rule.burst, name=rule.name), cost)
        )
    return out
