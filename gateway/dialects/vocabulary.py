"""What a dialect tells the policy engine, lint and metrics about its CRM: how entity names compare, action
groups, sensitive fields, and the entity and action names it knows (for typo warnings and metric labels)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

WILDCARD = "*"
DEFAULT = "default"


def _exact(name: str) -> str:
    return name


def _folded(name: str) -> str:
    return name.lower().replace("_", "")


def _any_name(name: str) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class DialectRules:
    name: str
    entity_folds_case: bool
    """True: entities compare lower-case with underscores removed; False: exactly."""
    groups: Mapping[str, str] = field(default_factory=dict)
    """Lower-case action -> its generic group (``getfields`` -> ``meta``)."""
    sensitive_fields: frozenset[str] = frozenset()
    """Fields denied on every entity unless a policy lists them under ``fields.<Entity>.allow``."""
    entities: frozenset[str] = frozenset()
    actions: frozenset[str] = frozenset()
    """Lower-case action names the dialect produces (for lint only)."""
    expanded_actions: Mapping[str, str] = field(default_factory=dict)
    """Lower-case actions the dialect never emits because it expands them (``save`` -> create/update)."""
    custom_entity: Callable[[str], bool] = _any_name
    """Names the CRM generates for site-defined entities, which no fixed list can know."""
    metric_entities: frozenset[str] = frozenset()
    metric_actions: frozenset[str] = frozenset()
    """Entity and action names that become metric labels as themselves (others are ``other``)."""

    def entity_key(self, name: str) -> str:
        return _folded(name) if self.entity_folds_case else _exact(name)

    def group_of(self, action_key: str) -> str | None:
        return self.groups.get(action_key)

    def knows_entity(self, name: str) -> bool:
        key = self.entity_key(name)
        return any(self.entity_key(known) == key for known in self.entities)

    def knows_action(self, name: str) -> bool:
        key = name.lower()
        return key == DEFAULT or key in self.actions or key in set(self.groups.values())

    def suggest_entity(self, name: str) -> str | None:
        return suggest(name, self.entities)

    def suggest_action(self, name: str) -> str | None:
        return suggest(name.lower(), self.actions | set(self.groups.values()) | {DEFAULT})


def words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """The closest known spelling of ``name`` (case-insensitive), or None."""
    by_folded: dict[str, str] = {}
    for candidate in sorted(candidates):
        by_folded.setdefault(candidate.lower().replace("_", ""), candidate)
    folded = name.lower().replace("_", "")
    if folded in by_folded:
        return by_folded[folded]
    close = difflib.get_close_matches(folded, list(by_folded), n=1, cutoff=0.6)
    return by_folded[close[0]] if close else None


GENERIC = DialectRules(name="", entity_folds_case=False)
