"""Rate expressions (``600/minute``, ``10/h``, ``100/5min``) and ``limits:`` entries, read into LimitRules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gateway.configfile.source import Section
from gateway.errors import ConfigError
from gateway.policy.model import LimitRule

PER_CHOICES = ("principal", "person", "upstream", "global")
BURST_CAP = 1000
"""The default burst is a whole period's quota, but never more than this many operations at once."""

_UNITS: dict[str, float] = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600.0),
    **dict.fromkeys(("d", "day", "days"), 86400.0),
}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([A-Za-z]+)\s*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True, slots=True)
class Rate:
    count: int
    period_seconds: float

    @property
    def per_second(self) -> float:
        return self.count / self.period_seconds

    @property
    def default_burst(self) -> int:
        return max(1, min(self.count, BURST_CAP))


def parse_rate(text: str) -> Rate:
    """``<count>/[<n>]<unit>``; raises ValueError naming the value and the accepted forms."""
    match = _RATE.match(text)
    unit = match.group(3).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ValueError(
            f"invalid rate {text!r}: expected <count>/<unit> such as 600/minute or 10/hour "
            "(units: second, minute, hour, day, or s, min, h, d)"
        )
    count = int(match.group(1))
    multiple = int(match.group(2)) if match.group(2) else 1
    if count < 1 or multiple < 1:
        raise ValueError(f"invalid rate {text!r}: count and period must be at least 1")
    return Rate(count=count, period_seconds=multiple * _UNITS[unit])


def parse_limit_rules(
    items: Any, *, file: str, key: str = "limits", line: int | None = None, policy: str = "gateway"
) -> list[LimitRule]:
    """Read a ``limits:`` list. Each entry: ``rate`` (required), ``burst``, ``entity``, ``action``,
    ``per`` (principal | person | upstream | global, default principal), ``name``. Rule names are
    ``<policy>:<name>``, or ``<policy>:<key>[<index>]`` without a name."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise ConfigError("expected a list of limits", file=file, line=line, key=key)
    rules: list[LimitRule] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        section = Section(item, file, f"{key}[{index}]", line)
        rule = _parse_one(section, policy, f"{key}[{index}]")
        if rule.name in seen:
            raise section.error("name", f"duplicate limit name {rule.name!r}")
        seen.add(rule.name)
        rules.append(rule)
    return rules


def _parse_one(s: Section, policy: str, fallback_name: str) -> LimitRule:
    text = s.get("rate", str)
    try:
        rate = parse_rate(text)
    except ValueError as exc:
        raise s.error("rate", str(exc)) from None
    burst = s.get("burst", int, rate.default_burst)
    if burst < 1:
        raise s.error("burst", f"burst must be at least 1; got {burst}")
    entity = _optional_name(s, "entity")
    action = _optional_name(s, "action")
    if entity == "*":
        raise s.error("entity", "leave entity out to limit every entity")
    per = s.choice("per", PER_CHOICES, "principal")
    name = s.get("name", str, None)
    if name is not None and not _NAME.match(name):
        raise s.error("name", f"invalid limit name {name!r}: use letters, digits, '.', '_' or '-'")
    s.done()
    return LimitRule(
        name=f"{policy}:{name or fallback_name}",
        rate_per_second=rate.per_second,
        burst=burst,
        per=per,
        entity=entity,
        action=action,
        policy=policy,
    )


def _optional_name(s: Section, key: str) -> str | None:
    value: str | None = s.get(key, str, None)
    if value is not None and not value.strip():
        raise s.error(key, "must not be empty")
    return value


def limit_applies(
    rule_entity: str | None, rule_action: str | None, entity: str, action: str, group: str | None
) -> bool:
    """Whether a limit scoped by (already normalised) entity/action covers one (normalised) operation."""
    if rule_entity is not None and rule_entity != entity:
        return False
    return rule_action is None or rule_action in (action, group)
