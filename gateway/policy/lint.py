"""Warnings about policies that load but probably do not say what their author meant."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from gateway.policy.known import (
    DEFAULT,
    WILDCARD,
    DialectRules,
    is_custom_entity,
    known_dialects,
    rules_for,
)
from gateway.policy.model import ConfigIssue, Policy, Spot, fold_field


def lint_policies(policies: Sequence[Policy], upstream_dialects: Mapping[str, str]) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for policy in policies:
        issues.extend(_lint_policy(policy, upstream_dialects))
    return issues


def _lint_policy(policy: Policy, upstream_dialects: Mapping[str, str]) -> Iterator[ConfigIssue]:
    src = policy.source
    if not policy.upstreams:
        yield _warn(src.file, src.line, "policy", f"{policy.name} applies to no configured upstream")
        return
    dialects = [rules_for(d) for d in sorted(policy.tables)]
    if any(not r.name for r in dialects):
        return  # a dialect we know nothing about: no names to check against
    covered = _covered(policy)
    entity_spots = [*src.entities, *(e for e, _, _ in src.field_entries)]
    entity_spots += [Spot(r.entity, line, f"{key}.entity") for r, line, key in src.limits if r.entity]
    seen: set[tuple[str, str]] = set()
    for spot in entity_spots:
        if spot.text != WILDCARD and (spot.text, spot.key) not in seen:
            seen.add((spot.text, spot.key))
            yield from _check_entity(spot, dialects, covered, src.file)
    action_spots = [action for _, action, _ in src.actions]
    action_spots += [Spot(r.action, line, f"{key}.action") for r, line, key in src.limits if r.action]
    for spot in action_spots:
        yield from _check_action(spot, dialects, covered, src.file)
    yield from _wildcard_hidden(policy)
    yield from _field_rules(policy, dialects)
    if not (src.entities or src.field_entries or policy.opaque or policy.limits):
        yield _warn(src.file, src.line, "policy", f"{policy.name} has no rules: it allows and limits nothing")


def _covered(policy: Policy) -> str:
    names = ", ".join(sorted(policy.upstreams))
    return f"{'/'.join(sorted(policy.tables))} upstreams ({names})"


def _check_entity(spot: Spot, dialects: list[DialectRules], covered: str, file: str) -> Iterator[ConfigIssue]:
    if any(r.knows_entity(spot.text) or is_custom_entity(r.name, spot.text) for r in dialects):
        return
    others = [r.name for r in known_dialects() if r not in dialects and r.knows_entity(spot.text)]
    if others:
        yield _warn(
            file,
            spot.line,
            spot.key,
            f"{spot.text} is a {others[0]} entity, but this policy covers only {covered}: it never matches",
        )
        return
    hint = next((s for s in (r.suggest_entity(spot.text) for r in dialects) if s), None)
    kinds = "/".join(r.name for r in dialects)
    tail = f"; did you mean {hint}?" if hint else " (a custom entity? check the spelling)"
    yield _warn(file, spot.line, spot.key, f"unknown {kinds} entity {spot.text}{tail}")


def _check_action(spot: Spot, dialects: list[DialectRules], covered: str, file: str) -> Iterator[ConfigIssue]:
    key = spot.text.lower()
    usable = [r for r in dialects if r.knows_action(key) and key not in r.expanded_actions]
    if usable:
        return
    expanded = [r for r in dialects if key in r.expanded_actions]
    if expanded:
        r = expanded[0]
        yield _warn(
            file,
            spot.line,
            spot.key,
            f"the {r.name} dialect expands {spot.text} into {r.expanded_actions[key]} before policy: "
            "this rule never matches; write rules for those actions",
        )
        return
    others = [r.name for r in known_dialects() if r not in dialects and r.knows_action(key)]
    if others:
        yield _warn(
            file,
            spot.line,
            spot.key,
            f"{spot.text} is a {others[0]} action, but this policy covers only {covered}: it never matches",
        )
        return
    hint = next((s for s in (r.suggest_action(spot.text) for r in dialects) if s), None)
    tail = f"; did you mean {hint}?" if hint else " (a custom action? check the spelling)"
    yield _warn(file, spot.line, spot.key, f"unknown action {spot.text}{tail}")


def _wildcard_hidden(policy: Policy) -> Iterator[ConfigIssue]:
    """An entity's own map replaces the ``*`` map entirely: a ``*`` rule it lacks never applies to it.
    Worth a warning when that changes the verdict (the entity's default says otherwise, or nothing)."""
    src = policy.source
    star = {a.text.lower(): (a.text, allow) for e, a, allow in src.actions if e.text == WILDCARD}
    for entity in src.entities:
        if entity.text == WILDCARD:
            continue
        own = {a.text.lower(): allow for e, a, allow in src.actions if e == entity}
        if not own:
            yield _warn(
                src.file,
                entity.line,
                entity.key,
                f"{entity.text} has no rules: it allows nothing and hides every '*' rule for {entity.text}",
            )
            continue
        fallback = own.get(DEFAULT)
        hidden = [text for key, (text, allow) in star.items() if key not in own and allow != fallback]
        if hidden:
            falls_to = "no rule" if fallback is None else f"{entity.text}.{DEFAULT}"
            yield _warn(
                src.file,
                entity.line,
                entity.key,
                f"'*' rules {', '.join(hidden)} do not apply to {entity.text}: a listed entity "
                f"uses only its own rules (those actions fall to {falls_to}); "
                f"repeat them under {entity.text} if meant",
            )


def _field_rules(policy: Policy, dialects: list[DialectRules]) -> Iterator[ConfigIssue]:
    src = policy.source
    sensitive = frozenset().union(*(r.sensitive_fields for r in dialects))
    denied: dict[str, set[str]] = {}
    for entity, field, kind in src.field_entries:
        if kind == "deny":
            denied.setdefault(entity.text, set()).add(fold_field(field.text))
    for entity, field, kind in src.field_entries:
        if kind != "allow":
            continue
        name = fold_field(field.text)
        if name in denied.get(entity.text, set()) | denied.get(WILDCARD, set()):
            yield _warn(
                src.file,
                field.line,
                field.key,
                f"{field.text} is both denied and allowed on {entity.text}: the deny wins, "
                "the allow never matches",
            )
        elif name not in sensitive:
            names = ", ".join(sorted(sensitive)) or "none for this dialect"
            yield _warn(
                src.file,
                field.line,
                field.key,
                f"allow only lifts the built-in denial of sensitive fields ({names}); "
                f"{field.text} is not one, so this entry has no effect",
            )


def _warn(file: str, line: int | None, key: str, message: str) -> ConfigIssue:
    return ConfigIssue("warning", message, file, line, key)
