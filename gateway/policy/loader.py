"""Policy files -> compiled Policy objects. Every mistake is a ConfigError naming file, line and key."""

from __future__ import annotations

import glob
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gateway.configfile.source import Section, load_yaml_file
from gateway.configfile.sources import policy_listing
from gateway.dialects.base import OPAQUE
from gateway.errors import ConfigError
from gateway.policy.known import WILDCARD, rules_for
from gateway.policy.limits import parse_limit_rules
from gateway.policy.model import (
    DialectTable,
    FieldRule,
    LimitRule,
    Mode,
    Policy,
    PolicySource,
    Rule,
    Spot,
    Subjects,
    fold_field,
)
from gateway.policy.scope import parse_scopes

VERDICTS = {"allow": True, "deny": False}
_POLICY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_GLOB_CHARS = re.compile(r"[*?\[]")


def policy_files(paths: Sequence[Path]) -> list[Path]:
    """Files named directly, every ``*.yaml``/``*.yml`` of a directory, or a glob's matches; each sorted."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = policy_listing(path)
        elif _GLOB_CHARS.search(str(path)):
            found = sorted(Path(p) for p in glob.glob(str(path)) if Path(p).is_file())
            if not _GLOB_CHARS.search(str(path.parent)):
                policy_listing(path.parent)  # recorded: a reload sees a file appear or go
        else:
            found = [path]
        if not found:
            raise ConfigError("no policy files found here", file=str(path))
        files.extend(p for p in found if p.resolve() not in {f.resolve() for f in files})
    return files


def watch_paths(paths: Sequence[Path]) -> tuple[Path, ...]:
    """The policy files plus the directories that can gain or lose one."""
    dirs = [p if p.is_dir() else p.parent for p in paths if p.is_dir() or _GLOB_CHARS.search(str(p))]
    return (*policy_files(paths), *dict.fromkeys(dirs))


def read_policy_files(paths: Sequence[Path]) -> list[tuple[str, Any]]:
    return [(str(p), load_yaml_file(p)) for p in policy_files(paths)]


def compile_documents(docs: Sequence[tuple[str, Any]], upstream_dialects: Mapping[str, str]) -> list[Policy]:
    """Each document is one policy mapping or a list of them."""
    policies: list[Policy] = []
    first_seen: dict[str, Policy] = {}
    for file, doc in docs:
        if doc is None:
            raise ConfigError("empty policy file", file=file)
        items = doc if isinstance(doc, list) else [doc]
        for index, item in enumerate(items):
            prefix = f"[{index}]" if isinstance(doc, list) else ""
            section = Section(item, file, prefix, getattr(doc, "line", None))
            policy = _policy(section, upstream_dialects)
            earlier = first_seen.get(policy.name)
            if earlier is not None:
                where = f"{earlier.source.file}:{earlier.source.line}"
                reason = f"duplicate policy name {policy.name!r} (first defined at {where})"
                raise section.error("policy", reason)
            first_seen[policy.name] = policy
            policies.append(policy)
    return policies


def _policy(s: Section, upstream_dialects: Mapping[str, str]) -> Policy:
    name: str = s.get("policy", str)
    if not _POLICY_NAME.match(name):
        raise s.error("policy", f"invalid policy name {name!r}: use letters, digits, '.', '_' or '-'")
    mode: Mode = "shadow" if s.choice("mode", ("enforce", "shadow"), "enforce") == "shadow" else "enforce"
    s.get("description", str, None)
    subjects = _subjects(s)
    upstreams = _upstreams(s, upstream_dialects)
    entity_maps, entity_spots, action_spots = _entities(s)
    field_lists, field_spots = _fields(s)
    opaque = _names(s, "opaque")
    scopes = parse_scopes(s, name)
    limits = parse_limit_rules(
        s.raw("limits"), file=s.file, key=_key(s, "limits"), line=s.line_of("limits"), policy=name
    )
    limit_items = s.data.get("limits") or []
    s.done()
    dialects = sorted({upstream_dialects[u] for u in upstreams})
    tables = {d: _table(name, d, s, entity_maps, field_lists, limits) for d in dialects}
    source = PolicySource(
        file=s.file,
        line=s.line,
        entities=entity_spots,
        actions=action_spots,
        field_entries=field_spots,
        limits=tuple(
            (rule, getattr(item, "line", s.line_of("limits")), _key(s, f"limits[{i}]"))
            for i, (rule, item) in enumerate(zip(limits, limit_items, strict=True))
        ),
    )
    return Policy(
        name,
        mode,
        subjects,
        frozenset(upstreams),
        tables,
        frozenset(opaque),
        tuple(limits),
        source,
        tuple(scopes),
    )


def _key(s: Section, name: str) -> str:
    return f"{s.key}.{name}" if s.key else name


def _subjects(s: Section) -> Subjects:
    sub = s.section("subjects")
    subjects = Subjects(
        principals=frozenset(_names(sub, "principals")),
        roles=frozenset(_names(sub, "roles")),
        scopes=frozenset(_names(sub, "scopes")),
    )
    sub.done()
    if not (subjects.principals or subjects.roles or subjects.scopes):
        raise s.error("subjects", "names nobody: list at least one of principals, roles, scopes")
    return subjects


def _upstreams(s: Section, upstream_dialects: Mapping[str, str]) -> list[str]:
    if not s.has("upstreams"):
        return sorted(upstream_dialects)
    listed = _names(s, "upstreams")
    if not listed:
        raise s.error("upstreams", "empty list: leave the key out to apply to every upstream")
    for upstream in listed:
        if upstream not in upstream_dialects:
            known = ", ".join(sorted(upstream_dialects)) or "none"
            raise s.error("upstreams", f"unknown upstream {upstream!r} (configured: {known})")
    return listed


def _names(s: Section, key: str) -> list[str]:
    names = s.str_list(key, [])
    for name in names:
        if not name.strip() or name != name.strip():
            raise s.error(key, f"invalid entry {name!r}: empty or padded with spaces")
    return names


_EntityMaps = list[tuple[str, int | None, list[tuple[str, bool]]]]


def _entities(s: Section) -> tuple[_EntityMaps, tuple[Spot, ...], tuple[tuple[Spot, Spot, bool], ...]]:
    es = s.section("entities", {})
    maps: _EntityMaps = []
    entity_spots: list[Spot] = []
    action_spots: list[tuple[Spot, Spot, bool]] = []
    for entity, _ in es.items():
        _check_entity_name(es, entity)
        am = es.section(entity)
        entity_spot = Spot(entity, es.line_of(entity), am.key)
        entity_spots.append(entity_spot)
        actions: list[tuple[str, bool]] = []
        seen: dict[str, str] = {}
        for action, verdict in am.items():
            if not action.strip():
                raise am.error(action, "empty action name")
            if not isinstance(verdict, str) or verdict not in VERDICTS:
                raise am.error(action, f"must be allow or deny; got {verdict!r}")
            if action.lower() in seen:
                reason = f"same action as {seen[action.lower()]!r} (actions compare case-insensitively)"
                raise am.error(action, reason)
            seen[action.lower()] = action
            actions.append((action, VERDICTS[verdict]))
            action_spot = Spot(action, am.line_of(action), _key(am, action))
            action_spots.append((entity_spot, action_spot, VERDICTS[verdict]))
        maps.append((entity, es.line_of(entity), actions))
    es.done()
    return maps, tuple(entity_spots), tuple(action_spots)


def _check_entity_name(section: Section, entity: str) -> None:
    if not entity.strip():
        raise section.error(entity, "empty entity name")
    if entity == OPAQUE:
        raise section.error(entity, "opaque routes are allowed under opaque:, not entities:")


_FieldLists = list[tuple[str, int | None, list[str], list[str]]]


def _fields(s: Section) -> tuple[_FieldLists, tuple[tuple[Spot, Spot, str], ...]]:
    fs = s.section("fields", {})
    lists: _FieldLists = []
    spots: list[tuple[Spot, Spot, str]] = []
    for entity, _ in fs.items():
        _check_entity_name(fs, entity)
        f = fs.section(entity)
        entity_spot = Spot(entity, fs.line_of(entity), f.key)
        by_kind: dict[str, list[str]] = {}
        for kind in ("deny", "allow"):
            by_kind[kind] = _names(f, kind)
            for field in by_kind[kind]:
                if fold_field(field) != field.lower() or not field.strip():
                    raise f.error(kind, f"invalid field {field!r}: name a field of {entity} itself")
                spots.append((entity_spot, Spot(field, f.line_of(kind), _key(f, kind)), kind))
        f.done()
        lists.append((entity, fs.line_of(entity), by_kind["deny"], by_kind["allow"]))
    fs.done()
    return lists, tuple(spots)


def _table(
    policy: str, dialect: str, s: Section, maps: _EntityMaps, fields: _FieldLists, limits: list[LimitRule]
) -> DialectTable:
    rules = rules_for(dialect)
    entities: dict[str, dict[str, Rule]] = {}
    origin: dict[str, str] = {}
    for entity, line, actions in maps:
        key = WILDCARD if entity == WILDCARD else rules.entity_key(entity)
        _no_collision(origin, key, entity, dialect, s, f"entities.{entity}", line)
        entities[key] = {
            action.lower(): Rule(allow, f"{policy}:entities.{entity}.{action}") for action, allow in actions
        }
    field_rules: dict[str, FieldRule] = {}
    origin = {}
    for entity, line, deny, allow in fields:
        key = WILDCARD if entity == WILDCARD else rules.entity_key(entity)
        _no_collision(origin, key, entity, dialect, s, f"fields.{entity}", line)
        field_rules[key] = FieldRule(
            deny=frozenset(fold_field(f) for f in deny),
            allow=frozenset(fold_field(f) for f in allow),
            deny_rule=Rule(False, f"{policy}:fields.{entity}.deny"),
        )
    limit_keys = tuple(
        (
            rule,
            rules.entity_key(rule.entity) if rule.entity is not None else None,
            rule.action.lower() if rule.action is not None else None,
        )
        for rule in limits
    )
    return DialectTable(entities=entities, fields=field_rules, limits=limit_keys)


def _no_collision(
    origin: dict[str, str], key: str, entity: str, dialect: str, s: Section, where: str, line: int | None
) -> None:
    if key in origin:
        raise ConfigError(
            f"names the same {dialect} entity as {origin[key]!r} ({dialect} ignores case and underscores)",
            file=s.file,
            line=line,
            key=_key(s, where),
        )
    origin[key] = entity
