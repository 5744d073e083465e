"""PolicySet: which policies apply to a request, and what they decide about each operation.

Per operation: every applicable enforce policy gives allow, deny or no opinion. Any deny wins; else any allow
allows (unless it touches a sensitive field no applicable policy explicitly allows); else default deny.
A request is allowed only when every operation is. Shadow policies are judged the same way, next to the
enforce policies, and only reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from gateway.dialects.base import Operation
from gateway.policy.cache import Memo, principal_key
from gateway.policy.known import WILDCARD, DialectRules, rules_for
from gateway.policy.limits import limit_applies
from gateway.policy.model import (
    DEFAULT_DENY,
    Decision,
    LimitRule,
    Policy,
    Rule,
    ShadowDecision,
    fold_field,
)
from gateway.policy.policies import Policies
from gateway.policy.scope import RecordScope
from gateway.principal import Principal
from gateway.ratelimit.base import Limit

V = TypeVar("V")

_MAX_NAME = 100


@dataclass(frozen=True, slots=True)
class _Facts:
    """One operation, normalised once for the dialect of the upstream."""

    op: Operation
    entity: str
    action: str
    group: str | None
    fields: frozenset[str]
    sensitive: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Tally:
    deny: Rule | None
    allow: Rule | None
    lifted: frozenset[str]


class PolicySet:
    """The runtime's view of the loaded policies (``GatewayConfig.policies``): indexed by upstream, with
    the memos of its decisions and of the limits per request. Built by the runtime, one per config."""

    def __init__(self, loaded: Policies) -> None:
        self._policies = loaded.policies
        self._dialects = dict(loaded.upstream_dialects)
        self._by_upstream = {u: tuple(p for p in self._policies if u in p.upstreams) for u in self._dialects}
        self._decisions: Memo[Decision] = Memo()
        self._denied: Memo[frozenset[str]] = Memo()
        self.request_limits: Memo[tuple[object, tuple[tuple[Limit, int], ...]]] = Memo()
        """``limits_for_request``'s memo (gateway/limits.py): each entry names the rate-limit settings
        it was computed with."""

    @property
    def policies(self) -> tuple[Policy, ...]:
        return self._policies

    def applicable(self, principal: Principal, upstream: str) -> list[Policy]:
        """Policies (enforce and shadow, in load order) whose subjects match and that cover the upstream."""
        return [p for p in self._by_upstream.get(upstream, ()) if p.subjects.match(principal)]

    def evaluate(self, principal: Principal, upstream: str, operations: Sequence[Operation]) -> Decision:
        """Memoised by (``principal_key``, upstream, operations): equal keys read equal inputs."""
        return _remembered(self._decisions, self._evaluate, principal, upstream, operations)

    def _evaluate(self, principal: Principal, upstream: str, operations: Sequence[Operation]) -> Decision:
        applicable = self.applicable(principal, upstream)
        enforce = [p for p in applicable if p.mode == "enforce"]
        matched = tuple(p.name for p in enforce)
        if not operations:
            message = "the request names no operation the gateway can authorize (rule default-deny)"
            return Decision(False, DEFAULT_DENY, None, message, (), matched)
        dialect = self._dialects.get(upstream, "")
        rules = rules_for(dialect)
        facts = [_facts(op, rules) for op in operations]
        tallies = [_tally(f, enforce, dialect) for f in facts]
        shadow = tuple(_shadow(p, facts, tallies, dialect) for p in applicable if p.mode == "shadow")
        allowed, rule, denied = _conclude(facts, tallies)
        message = "allowed" if allowed else _message(denied, rule)
        return Decision(allowed, rule, denied, message, shadow, matched)

    def denied_fields(
        self, principal: Principal, upstream: str, operations: Sequence[Operation]
    ) -> frozenset[str]:
        """Folded field names the answer must not carry: for every entity the request touches, the fields
        an enforce policy denies and the dialect's sensitive fields no enforce policy allows. An opaque
        operation counts as touching every entity the policies name. Memoised as ``evaluate`` is."""
        return _remembered(self._denied, self._denied_fields, principal, upstream, operations)

    def _denied_fields(
        self, principal: Principal, upstream: str, operations: Sequence[Operation]
    ) -> frozenset[str]:
        dialect = self._dialects.get(upstream, "")
        rules = rules_for(dialect)
        enforce = [p for p in self.applicable(principal, upstream) if p.mode == "enforce"]
        entities = {rules.entity_key(op.entity) for op in operations if not op.opaque}
        if any(op.opaque for op in operations):
            entities |= {key for p in enforce for key in p.tables[dialect].fields} | {WILDCARD}
        denied: set[str] = set()
        for entity in entities:
            lifted: frozenset[str] = frozenset().union(*(p.tables[dialect].lifted(entity) for p in enforce))
            denied |= rules.sensitive_fields - lifted
            for p in enforce:
                for key in (entity, WILDCARD):
                    field_rule = p.tables[dialect].fields.get(key)
                    if field_rule is not None:
                        denied |= field_rule.deny
        return frozenset(denied)

    def scopes_for(self, principal: Principal, upstream: str) -> list[RecordScope]:
        """The record scopes of the enforce policies that apply to this principal and upstream."""
        return [sc for p in self.applicable(principal, upstream) if p.mode == "enforce" for sc in p.scopes]

    def explain(
        self, principal: Principal, upstream: str, operations: Sequence[Operation]
    ) -> list[tuple[Operation, Decision]]:
        """Each operation's own decision, for ``crm-gateway explain``."""
        return [(op, self.evaluate(principal, upstream, [op])) for op in operations]

    def limits_for(
        self, principal: Principal, upstream: str, operations: Sequence[Operation]
    ) -> list[LimitRule]:
        """The enforce policies' limits that cover the request, each once."""
        return [rule for rule, _ in self.charges_for(principal, upstream, operations)]

    def charges_for(
        self, principal: Principal, upstream: str, operations: Sequence[Operation]
    ) -> list[tuple[LimitRule, int]]:
        """Each applicable limit with its cost: the operations it covers (entity names compared the way
        the dialect compares them, actions also by group); a request-wide limit costs every operation."""
        dialect = self._dialects.get(upstream, "")
        rules = rules_for(dialect)
        facts = [_facts(op, rules) for op in operations]
        out: list[tuple[LimitRule, int]] = []
        for policy in self.applicable(principal, upstream):
            if policy.mode != "enforce":
                continue
            for rule, entity, action in policy.tables[dialect].limits:
                if entity is None and action is None:
                    cost = max(1, len(facts))
                else:
                    cost = sum(
                        1
                        for f in facts
                        if not f.op.opaque and limit_applies(entity, action, f.entity, f.action, f.group)
                    )
                if cost:
                    out.append((rule, cost))
        return out


def _facts(op: Operation, rules: DialectRules) -> _Facts:
    if op.opaque:
        return _Facts(op, op.entity, op.action, None, frozenset(), frozenset())
    action = op.action.lower()
    fields = frozenset(fold_field(f) for f in op.fields) if op.fields else frozenset()
    sensitive = rules.sensitive_fields & fields if fields else frozenset()
    return _Facts(op, rules.entity_key(op.entity), action, rules.group_of(action), fields, sensitive)


def _judge(policy: Policy, f: _Facts, dialect: str) -> Rule | None:
    if f.op.opaque:
        return Rule(True, f"{policy.name}:opaque.{f.op.action}") if f.op.action in policy.opaque else None
    return policy.tables[dialect].judge(f.entity, f.action, f.group, f.fields)


def _tally(f: _Facts, policies: Sequence[Policy], dialect: str) -> _Tally:
    allow: Rule | None = None
    lifted: frozenset[str] = frozenset()
    for policy in policies:
        rule = _judge(policy, f, dialect)
        if rule is not None and not rule.allow:
            return _Tally(rule, allow, lifted)
        if rule is not None and allow is None:
            allow = rule
        if f.sensitive:
            lifted |= policy.tables[dialect].lifted(f.entity)
    return _Tally(None, allow, lifted)


def _outcome(f: _Facts, t: _Tally) -> tuple[bool, str]:
    if t.deny is not None:
        return False, t.deny.name
    if t.allow is None:
        return False, DEFAULT_DENY
    blocked = sorted(f.sensitive - t.lifted)
    if blocked:
        return False, f"builtin:fields.{blocked[0]}"
    return True, t.allow.name


def _conclude(facts: Sequence[_Facts], tallies: Sequence[_Tally]) -> tuple[bool, str, Operation | None]:
    first_rule = ""
    for f, t in zip(facts, tallies, strict=True):
        allowed, rule = _outcome(f, t)
        if not allowed:
            return False, rule, f.op
        first_rule = first_rule or rule
    return True, first_rule, None


def _shadow(
    policy: Policy, facts: Sequence[_Facts], tallies: Sequence[_Tally], dialect: str
) -> ShadowDecision:
    combined = [_tally(f, [policy], dialect) for f in facts]
    merged = [
        _Tally(t.deny or s.deny, t.allow or s.allow, t.lifted | s.lifted)
        for t, s in zip(tallies, combined, strict=True)
    ]
    allowed, rule, denied = _conclude(facts, merged)
    return ShadowDecision(policy.name, allowed, rule, denied)


def _message(op: Operation | None, rule: str) -> str:
    if op is None:
        return f"the request is not allowed (rule {rule})"
    what = _safe(op.action) if op.opaque else f"{_safe(op.entity)}.{_safe(op.action)}"
    if rule == DEFAULT_DENY:
        return f"{what} is not allowed: no policy grants it (rule {rule})"
    return f"{what} is not allowed (rule {_safe(rule)})"


def _safe(text: str) -> str:
    """Client-chosen names go into error bodies and headers: printable ASCII only, bounded length."""
    cleaned = "".join(c if " " <= c <= "~" else "?" for c in text)
    return cleaned if len(cleaned) <= _MAX_NAME else cleaned[: _MAX_NAME - 3] + "..."


def _remembered(
    memo: Memo[V],
    compute: Callable[[Principal, str, Sequence[Operation]], V],
    principal: Principal,
    upstream: str,
    operations: Sequence[Operation],
) -> V:
    """``compute``'s answer, kept in ``memo`` under (``principal_key``, upstream, operations); operations
    built with unhashable parts are computed without the memo."""
    key = (principal_key(principal), upstream, tuple(operations))
    try:
        found = memo.get(key)
    except TypeError:
        return compute(principal, upstream, operations)
    if found is None:
        found = compute(principal, upstream, operations)
        memo.put(key, found)
    return found
