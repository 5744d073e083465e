"""Which rate limits a request is charged against, and how much each costs."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from gateway.config.model import RateLimitConfig
from gateway.dialects.base import Operation
from gateway.policy.cache import principal_key
from gateway.policy.engine import PolicySet
from gateway.policy.model import LimitRule
from gateway.principal import Principal
from gateway.ratelimit.base import Limit, limit_key


def _request_wide(rules: Sequence[LimitRule], ops: Sequence[Operation]) -> list[tuple[LimitRule, int]]:
    return [(rule, max(1, len(ops))) for rule in rules]


CLUSTER_TAG = "crmgw"


def _key(
    rule: LimitRule, principal: Principal, upstream: str, single_slot: bool, person: str | None = None
) -> str:
    """``per: principal``: one bucket per principal and upstream; ``per: person``: one per CRM person the
    request acts as (``contact_id=42``) and upstream, the principal's own where the identity is shared;
    ``per: upstream``: one per upstream, shared by every principal; ``per: global``: one for every
    principal on every upstream.

    On Redis Cluster (``single_slot``) every key shares one hash tag: one script must check and charge a
    request's per-principal and shared buckets together, and a script's keys must live in one slot."""
    parts: tuple[str, ...]
    if rule.per == "person" and person is not None:
        scope = hashlib.blake2b(f"person\0{upstream}\0{person}".encode(), digest_size=12)
        parts = (scope.hexdigest(), rule.policy, rule.name, upstream)
    elif rule.per in ("principal", "person"):
        scope = hashlib.blake2b(f"{principal.issuer}\0{principal.subject}".encode(), digest_size=12)
        parts = (scope.hexdigest(), rule.policy, rule.name, upstream)
    elif rule.per == "upstream":
        parts = (upstream, rule.policy, rule.name, upstream)
    else:
        parts = ("*", rule.policy, rule.name)
    return limit_key(CLUSTER_TAG, *parts) if single_slot else limit_key(*parts)


def limits_for_request(
    policies: PolicySet,
    settings: RateLimitConfig,
    principal: Principal,
    upstream: str,
    ops: Sequence[Operation],
    person: str | None = None,
) -> list[tuple[Limit, int]]:
    """Each applicable limit with its cost: the number of operations the rule covers (so a batch of
    six calls costs six, and an entity rule is charged only for that entity's operations).

    Memoised on the PolicySet by (rate-limit settings, ``principal_key``, upstream, operations)."""
    memo = policies.request_limits
    key = (id(settings), principal_key(principal), upstream, tuple(ops), person)
    try:
        found = memo.get(key)
    except TypeError:  # an operation built with unhashable parts: compute without the memo
        return _limits(policies, settings, principal, upstream, ops, person)
    # The entry keeps its settings alive, so their id cannot name other settings meanwhile.
    if found is not None and found[0] is settings:
        return list(found[1])
    charged = _limits(policies, settings, principal, upstream, ops, person)
    memo.put(key, (settings, tuple(charged)))
    return charged


def _limits(
    policies: PolicySet,
    settings: RateLimitConfig,
    principal: Principal,
    upstream: str,
    ops: Sequence[Operation],
    person: str | None = None,
) -> list[tuple[Limit, int]]:
    charges = [
        *_request_wide(settings.limits, ops),
        *policies.charges_for(principal, upstream, ops),
    ]
    out: list[tuple[Limit, int]] = []
    seen: set[str] = set()
    single_slot = settings.cluster
    for rule, cost in charges:
        key = _key(rule, principal, upstream, single_slot, person)
        if key in seen:
            continue
        seen.add(key)
        out.append(
            (Limit(key=key, rate_per_second=rule.rate_per_second, burst=rule.burst, name=rule.name), cost)
        )
    return out
