"""The loaded policy files as plain values (``GatewayConfig.policies``): what the runtime builds its
PolicySet, with the indexes and memos, from (gateway/assembly.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gateway.policy.known import WILDCARD
from gateway.policy.lint import lint_policies
from gateway.policy.loader import compile_documents, read_policy_files, watch_paths
from gateway.policy.model import ConfigIssue, Policy


@dataclass(frozen=True, slots=True)
class Policies:
    policies: tuple[Policy, ...] = ()
    upstream_dialects: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Upstream name -> its dialect's name: the dialect each policy was compiled for."""
    files: tuple[Path, ...] = ()
    """What to watch for hot reload: every policy file loaded, plus each directory named directly or by
    a glob (a directory's mtime changes when a policy file is added or removed)."""

    def entity_names(self) -> list[str]:
        """Every entity name the policies write (entities, fields, limits), ``*`` excluded; sorted."""
        names: set[str] = set()
        for policy in self.policies:
            src = policy.source
            names.update(spot.text for spot in src.entities)
            names.update(entity.text for entity, _, _ in src.field_entries)
            names.update(rule.entity for rule, _, _ in src.limits if rule.entity)
        names.discard(WILDCARD)
        return sorted(names)

    def lint(self) -> list[ConfigIssue]:
        return lint_policies(self.policies, self.upstream_dialects)


def load_policies(paths: Sequence[Path], upstream_dialects: Mapping[str, str]) -> Policies:
    """Files, directories (their ``*.yaml``) or globs, each read sorted; ConfigError on any mistake."""
    docs = read_policy_files(paths)
    return Policies(
        tuple(compile_documents(docs, upstream_dialects)),
        MappingProxyType(dict(upstream_dialects)),
        watch_paths(paths),
    )


def policies_from_documents(
    docs: Sequence[tuple[str, Any]], upstream_dialects: Mapping[str, str]
) -> Policies:
    """(file name, parsed YAML) pairs: the YAML as ``load_yaml_text`` returns it, or plain data."""
    return Policies(
        tuple(compile_documents(docs, upstream_dialects)), MappingProxyType(dict(upstream_dialects))
    )
