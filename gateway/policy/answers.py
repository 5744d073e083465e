"""Which policies rely on a dialect's answer filter: those that let a principal read an entity whose
answers may carry a filtered field without allowing that field (the filter removes it in proxy mode)."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.policy.known import WILDCARD, rules_for
from gateway.policy.model import Policy


def relies_on_answer_filter(
    policies: Iterable[Policy], upstream: str, dialect: str, entities: frozenset[str], fields: frozenset[str]
) -> list[str]:
    """``file:line: policy P ...`` for every enforce policy on ``upstream`` that needs the filter."""
    found: list[str] = []
    deniers: list[str] = []
    readers = 0
    rules = rules_for(dialect)
    for policy in policies:
        table = policy.tables.get(dialect)
        if policy.mode != "enforce" or upstream not in policy.upstreams or table is None:
            continue
        where = _where(policy)
        if policy.opaque:
            found.append(f"{where}: policy {policy.name} allows opaque routes, whose answers may carry them")
        for entity in sorted(entities):
            key = rules.entity_key(entity)
            actions = table.entities.get(key, table.entities.get(WILDCARD))
            if actions is None or not any(rule.allow for rule in actions.values()):
                continue
            readers += 1
            if not fields <= table.lifted(key):
                found.append(
                    f"{where}: policy {policy.name} allows reading {entity} without allowing "
                    f"{_names(fields)} (fields.{entity}.allow)"
                )
                break
        if any(not rule.deny.isdisjoint(fields) for rule in table.fields.values()):
            deniers.append(
                f"{where}: policy {policy.name} denies {_names(fields)} to principals other policies allow it"
            )
    return found + (deniers if readers else [])


def denies_answer_fields(policies: Iterable[Policy], upstream: str, dialect: str) -> list[str]:
    """``file:line: policy P denies ...`` for every enforce policy on ``upstream`` with ``fields.<E>.deny``:
    proxy mode removes those fields from answers too (gateway/answers/fields.py)."""
    found: list[str] = []
    for policy in policies:
        if policy.mode != "enforce" or upstream not in policy.upstreams or dialect not in policy.tables:
            continue
        by_entity: dict[str, list[str]] = {}
        for entity, field, kind in policy.source.field_entries:
            if kind == "deny":
                by_entity.setdefault(entity.text, []).append(field.text)
        found += [
            f"{_where(policy)}: policy {policy.name} denies {', '.join(names)} (fields.{entity}.deny)"
            for entity, names in by_entity.items()
        ]
    return found


def _where(policy: Policy) -> str:
    src = policy.source
    return f"{src.file}:{src.line}" if src.line is not None else src.file


def _names(fields: frozenset[str]) -> str:
    return ", ".join(sorted(fields))
