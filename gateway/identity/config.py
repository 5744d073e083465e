"""``identities`` (and ``lookups``) in gateway.yaml -> IdentityRules; every error names file:line and key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.configfile.refs import SecretResolver
from gateway.configfile.source import Section
from gateway.dialects.registry import directory_for
from gateway.errors import ConfigError
from gateway.identity.spec import FieldSource, FromClaim, FromLookup, IdentityRule, IdentitySpec, LookupConfig
from gateway.secrets import Secret
from gateway.signers import registry as signers
from gateway.signers.base import PersonCheck, SignerSpec

UNRESOLVED = ("refuse", "next")


class Upstream:
    """What identity parsing needs to know about one upstream."""

    def __init__(self, name: str, scheme: str, dialect: str) -> None:
        self.name = name
        self.scheme = scheme
        self.dialect = dialect


def parse_identities(
    items: list[Any],
    file: str,
    refs: SecretResolver,
    upstreams: Mapping[str, Upstream],
    lookups: frozenset[str],
) -> tuple[IdentityRule, ...]:
    """The ``identities`` list; ``lookups``: the upstreams with a configured look-up service identity."""
    rules = []
    for i, raw in enumerate(items):
        r = Section(raw, file, f"identities[{i}]")
        match = _match(r)
        unresolved = r.choice("unresolved", UNRESOLVED, "refuse")
        crm: dict[str, IdentitySpec] = {}
        for key, value in r.items():
            if key in ("match", "unresolved"):
                continue
            if key not in upstreams:
                raise r.error(key, f"unknown upstream {key!r}; known: {', '.join(upstreams)}")
            fields = Section(value, r.file, f"{r.key}.{key}", r.line_of(key))
            crm[key] = parse_identity(fields, refs, upstreams[key], lookups)
        if unresolved == "next" and not any(spec.per_person for spec in crm.values()):
            raise r.error("unresolved", "'next' applies only to a rule with fields from claims or look-ups")
        rules.append(IdentityRule(match=match, crm=crm, line=f"{file}:{r.line}", unresolved=unresolved))
    return tuple(rules)


def _match(r: Section) -> dict[str, tuple[str, ...]]:
    m = r.section("match")
    match: dict[str, tuple[str, ...]] = {}
    for claim, value in m.items():
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in values):
            raise m.error(claim, "expected a string or a list of strings")
        match[claim] = tuple(str(v) for v in values)
    if not match:
        raise r.error("match", "must name at least one claim")
    return match


def parse_identity(
    fields: Section, refs: SecretResolver, upstream: Upstream, lookups: frozenset[str]
) -> IdentitySpec:
    """One CRM's identity: exactly the fields the upstream's scheme needs (person fields may be derived)."""
    spec = signers.spec_for(upstream.scheme)
    assert spec is not None
    fixed: dict[str, Secret] = {}
    derived: dict[str, FieldSource] = {}
    for name, value in fields.items():
        where, line = f"{fields.key}.{name}", fields.line_of(name)
        if name not in spec.identity_fields and name not in spec.person_fields:
            raise ConfigError(_unknown_field(name, upstream, spec), file=fields.file, line=line, key=where)
        if isinstance(value, dict):
            derived[name] = _source(Section(value, fields.file, where, line), name, upstream, spec, lookups)
        elif name in spec.plain_fields:
            text = refs.text(str(value), key=where, line=line)
            check = spec.person_fields.get(name)
            if check is not None:
                text = _checked(check, text, fields.error(name, ""))
            fixed[name] = Secret(text, "inline")
        else:
            fixed[name] = refs.secret(value, key=where, line=line)
    missing = sorted(spec.identity_fields - fixed.keys() - derived.keys())
    if missing:
        raise ConfigError(
            f"scheme {upstream.scheme} needs {', '.join(missing)}",
            file=fields.file,
            line=fields.line,
            key=fields.key,
        )
    checks = {name: spec.person_fields[name] for name in derived}
    return IdentitySpec(fixed=fixed, derived=derived, checks=checks)


def _unknown_field(name: str, upstream: Upstream, spec: SignerSpec) -> str:
    known = ", ".join(sorted(spec.identity_fields | spec.person_fields.keys()))
    refusal = spec.field_refusals.get(name)
    if refusal is not None:
        return f"scheme {upstream.scheme} {refusal}; fields: {known}"
    return f"scheme {upstream.scheme} has no identity field {name!r}; fields: {known}"


def _checked(check: PersonCheck, value: Any, error: ConfigError) -> str:
    try:
        return check(value)
    except ValueError as exc:
        raise ConfigError(f"value {exc}", file=error.file, line=error.line, key=error.key) from None


def _source(
    s: Section, name: str, upstream: Upstream, spec: SignerSpec, lookups: frozenset[str]
) -> FieldSource:
    if name not in spec.person_fields:
        people = ", ".join(sorted(spec.person_fields)) or "none"
        raise ConfigError(
            f"{name} of scheme {upstream.scheme} cannot come from a claim or a look-up "
            f"(it is a credential, not a person); person fields of this scheme: {people}",
            file=s.file,
            line=s.line,
            key=s.key,
        )
    if s.has("claim") == s.has("lookup"):
        raise ConfigError("give exactly one of claim or lookup", file=s.file, line=s.line, key=s.key)
    if s.has("claim"):
        claim = s.get("claim", str)
        s.done()
        if not claim:
            raise s.error("claim", "must name a claim")
        return FromClaim(claim)
    look = s.section("lookup")
    s.done()
    directory = directory_for(upstream.dialect)
    ways = directory.ways.get(name, frozenset()) if directory is not None else frozenset()
    by = look.get("by", str)
    if by not in ways:
        known = ", ".join(sorted(ways)) or "none"
        raise look.error("by", f"{upstream.dialect} cannot look up {name} by {by!r}; known: {known}")
    claim = look.get("claim", str)
    look.done()
    if upstream.name not in lookups:
        raise look.error(
            "by", f"a look-up needs a service identity: add lookups.{upstream.name}.identity (see docs)"
        )
    return FromLookup(by=by, claim=claim)


def parse_lookups(
    s: Section, refs: SecretResolver, upstreams: Mapping[str, Upstream]
) -> dict[str, LookupConfig]:
    """``lookups``: per upstream, the service identity used only for identity look-ups, and the cache."""
    out: dict[str, LookupConfig] = {}
    for name, _ in list(s.items()):
        if name not in upstreams:
            raise s.error(name, f"unknown upstream {name!r}; known: {', '.join(upstreams)}")
        up = s.section(name)
        if directory_for(upstreams[name].dialect) is None:
            raise s.error(name, f"the {upstreams[name].dialect} dialect has no identity look-ups")
        spec = parse_identity(up.section("identity"), refs, upstreams[name], frozenset())
        signer = signers.spec_for(upstreams[name].scheme)
        assert signer is not None
        acting = sorted(spec.fixed.keys() - signer.identity_fields)
        if spec.per_person or acting:
            raise up.error(
                "identity", "the service identity is fixed and acts as itself: no claims, look-ups or act_as"
            )
        config = LookupConfig(
            upstream=name,
            identity=spec.fixed,
            ttl_seconds=_positive(up, "ttl_seconds", 300.0),
            negative_ttl_seconds=_positive(up, "negative_ttl_seconds", 30.0),
            max_entries=int(_positive(up, "max_entries", 10_000)),
            timeout_seconds=_positive(up, "timeout_seconds", 5.0),
        )
        up.done()
        out[name] = config
    s.done()
    return out


def _positive(s: Section, name: str, default: float) -> float:
    value = float(s.get(name, float, default))
    if value <= 0:
        raise s.error(name, "must be greater than 0")
    return value
