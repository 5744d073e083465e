"""Policy values: what evaluation answers (Decision, LimitRule, ConfigIssue) and compiled policies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from gateway.dialects.base import Operation
from gateway.policy.known import DEFAULT, WILDCARD
from gateway.policy.scope import RecordScope
from gateway.principal import Principal

Mode = Literal["enforce", "shadow"]
Severity = Literal["warning", "error"]

DEFAULT_DENY = "default-deny"


@dataclass(frozen=True, slots=True)
class ShadowDecision:
    """What one shadow policy would have decided had it been enforced next to the enforce policies."""

    policy: str
    allowed: bool
    rule: str
    denied: Operation | None


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    rule: str
    """The deciding rule: ``<policy>:entities.<Entity>.<action>``, ``<policy>:fields.<Entity>.deny``,
    ``<policy>:opaque.<route>``, ``builtin:fields.<field>`` or ``default-deny``. For an allowed request, the
    rule that allowed its first operation."""
    denied: Operation | None
    message: str
    """Client-safe: names the entity, action and rule, nothing else."""
    shadow: tuple[ShadowDecision, ...] = ()
    matched: tuple[str, ...] = ()
    """The enforce policies that applied to the principal and upstream, in load order."""


@dataclass(frozen=True, slots=True)
class LimitRule:
    name: str
    rate_per_second: float
    burst: int
    per: str
    """``principal`` (default), ``upstream`` or ``global``: whose bucket is charged."""
    entity: str | None
    action: str | None
    policy: str


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """A finding of ``Policies.lint()``: never fatal by itself, shown by ``crm-gateway check``."""

    severity: Severity
    message: str
    file: str
    line: int | None = None
    key: str = ""

    def __str__(self) -> str:
        """Shaped like a ConfigError: ``file:line: key: message``."""
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class Rule:
    allow: bool
    name: str


@dataclass(frozen=True, slots=True)
class FieldRule:
    deny: frozenset[str]
    allow: frozenset[str]
    deny_rule: Rule


def fold_field(name: str) -> str:
    """Field names compare lower-case, by their last dotted segment, without a ``:label`` suffix, so
    ``contact_id.API_KEY:name`` reads as ``api_key`` (field rules err on the side of denying)."""
    return name.split(":", 1)[0].rsplit(".", 1)[-1].strip().lower()


@dataclass(frozen=True, slots=True)
class DialectTable:
    """One policy compiled for one dialect (entity keys as ``rules_for(dialect).entity_key`` gives them):
    every lookup is a dict access."""

    entities: Mapping[str, Mapping[str, Rule]]
    """Entity key (``*`` included) -> lower-case action, group or ``default`` -> rule."""
    fields: Mapping[str, FieldRule]
    limits: tuple[tuple[LimitRule, str | None, str | None], ...]
    """Each limit with its entity key and lower-case action."""

    def judge(self, entity: str, action: str, group: str | None, fields: frozenset[str]) -> Rule | None:
        """This policy's word on one operation (keys already normalised): deny, allow or None."""
        actions = self.entities.get(entity)
        if actions is None:
            actions = self.entities.get(WILDCARD)
        rule: Rule | None = None
        if actions is not None:
            rule = actions.get(action)
            if rule is None and group is not None:
                rule = actions.get(group)
            if rule is None:
                rule = actions.get(DEFAULT)
        if (rule is not None and not rule.allow) or not fields:
            return rule
        for key in (entity, WILDCARD):
            field_rule = self.fields.get(key)
            if field_rule is not None and not field_rule.deny.isdisjoint(fields):
                return field_rule.deny_rule
        return rule

    def lifted(self, entity: str) -> frozenset[str]:
        """Sensitive fields this policy explicitly allows on ``entity``."""
        lifted: frozenset[str] = frozenset()
        for key in (entity, WILDCARD):
            field_rule = self.fields.get(key)
            if field_rule is not None:
                lifted |= field_rule.allow
        return lifted


@dataclass(frozen=True, slots=True)
class Subjects:
    principals: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()

    def match(self, principal: Principal) -> bool:
        return (
            principal.subject in self.principals
            or not self.roles.isdisjoint(principal.roles)
            or not self.scopes.isdisjoint(principal.scopes)
        )


@dataclass(frozen=True, slots=True)
class Spot:
    """A name as the policy file wrote it, and where."""

    text: str
    line: int | None
    key: str


@dataclass(frozen=True, slots=True)
class PolicySource:
    """What lint needs of a policy as written."""

    file: str
    line: int | None
    entities: tuple[Spot, ...]
    actions: tuple[tuple[Spot, Spot, bool], ...]
    """(entity, action, allow) for every entry of every entity map."""
    field_entries: tuple[tuple[Spot, Spot, str], ...]
    """(entity, field, ``deny`` | ``allow``)."""
    limits: tuple[tuple[LimitRule, int | None, str], ...]
    """Each limit with its line and key."""


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    mode: Mode
    subjects: Subjects
    upstreams: frozenset[str]
    tables: Mapping[str, DialectTable]
    """By dialect name, one for every dialect among the policy's upstreams."""
    opaque: frozenset[str]
    limits: tuple[LimitRule, ...]
    source: PolicySource
    scopes: tuple[RecordScope, ...] = ()
    """Record scopes by claim (``scope:``), applied by gateway/scoping.py."""
