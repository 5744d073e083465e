"""Per-entity permission policies: load them once, evaluate every request's operations against them."""

from __future__ import annotations

from gateway.policy.engine import PolicySet
from gateway.policy.limits import parse_limit_rules, parse_rate
from gateway.policy.model import ConfigIssue, Decision, LimitRule, ShadowDecision

__all__ = [
    "ConfigIssue",
    "Decision",
    "LimitRule",
    "PolicySet",
    "ShadowDecision",
    "parse_limit_rules",
    "parse_rate",
]
