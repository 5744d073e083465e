"""Rate expressions, limits: entries, and which limits apply to a request."""

from __future__ import annotations

import pytest

from gateway.configfile.source import load_yaml_text
from gateway.dialects.base import OPAQUE, Operation
from gateway.errors import ConfigError
from gateway.policy import LimitRule, PolicySet, parse_limit_rules, parse_rate
from gateway.policy.limits import BURST_CAP
from gateway.policy.policies import policies_from_documents
from gateway.principal import Principal

DIALECTS = {"civi": "civicrm", "espo": "espocrm"}


@pytest.mark.parametrize(
    ("text", "per_second", "burst"),
    [
        ("600/minute", 10.0, 600),
        ("10/hour", 10 / 3600, 10),
        ("5/second", 5.0, 5),
        ("100/day", 100 / 86400, 100),
        ("10/s", 10.0, 10),
        ("600/min", 10.0, 600),
        ("1/h", 1 / 3600, 1),
        ("30/d", 30 / 86400, 30),
        ("100/5min", 100 / 300, 100),
        (" 7 / Minutes ", 7 / 60, 7),
        ("5000/hour", 5000 / 3600, BURST_CAP),
    ],
)
def test_parse_rate(text: str, per_second: float, burst: int) -> None:
    rate = parse_rate(text)
    assert rate.per_second == pytest.approx(per_second)
    assert rate.default_burst == burst


@pytest.mark.parametrize(
    "text", ["600", "600/fortnight", "0/minute", "-1/s", "ten/s", "10/0s", "", "10/", "/s", "1.5/s", "10/m/s"]
)
def test_bad_rate_names_the_value(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_rate(text)
    assert repr(text) in str(caught.value)


def _limits(text: str) -> list[LimitRule]:
    return parse_limit_rules(load_yaml_text(text, "gw.yaml"), file="gw.yaml", key="ratelimit.limits", line=1)


def test_parse_limit_rules_fills_defaults_and_names() -> None:
    rules = _limits(
        "- {rate: 600/minute, burst: 60}\n"
        "- {name: deletes, entity: Contact, action: delete, rate: 10/hour, per: global}\n"
    )
    assert rules == [
        LimitRule("gateway:ratelimit.limits[0]", 10.0, 60, "principal", None, None, "gateway"),
        LimitRule("gateway:deletes", rules[1].rate_per_second, 10, "global", "Contact", "delete", "gateway"),
    ]
    assert rules[1].rate_per_second == pytest.approx(10 / 3600)


@pytest.mark.parametrize(
    ("text", "line", "key", "reason"),
    [
        ("- {rate: 10/s}\n- {rate: 10/fortnight}\n", 2, "ratelimit.limits[1].rate", "'10/fortnight'"),
        ("- rate: 10/s\n  burst: -3\n", 2, "ratelimit.limits[0].burst", "at least 1"),
        ("- rate: 10/s\n  burst: true\n", 2, "ratelimit.limits[0].burst", "boolean"),
        ("- rate: 10/s\n  entity: '*'\n", 2, "ratelimit.limits[0].entity", "leave entity out"),
        ("- rate: 10/s\n  per: tenant\n", 2, "ratelimit.limits[0].per", "'tenant'"),
        ("- rate: 10/s\n  scope: x\n", 2, "ratelimit.limits[0].scope", "unknown key"),
        ("- {burst: 3}\n", 1, "ratelimit.limits[0].rate", "required key is missing"),
        ("- {rate: 600}\n", 1, "ratelimit.limits[0].rate", "expected a string"),
        (
            "- {rate: 1/s, name: a}\n- {rate: 2/s, name: a}\n",
            2,
            "ratelimit.limits[1].name",
            "duplicate limit name",
        ),
        ("- {rate: 1/s, name: 'a b'}\n", 1, "ratelimit.limits[0].name", "invalid limit name"),
        ("rate: 1/s\n", 1, "ratelimit.limits", "expected a list"),
    ],
)
def test_bad_limit_entries(text: str, line: int, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _limits(text)
    assert (caught.value.file, caught.value.line, caught.value.key) == ("gw.yaml", line, key)
    assert reason in caught.value.reason


def test_no_limits_is_an_empty_list() -> None:
    assert parse_limit_rules(None, file="gw.yaml") == []


LIMITED = """
policy: limited
subjects: {roles: [sync]}
entities:
  "*": {default: allow}
limits:
  - {name: all, rate: 600/minute, burst: 60}
  - {name: contact-deletes, entity: Contact, action: delete, rate: 10/hour}
  - {name: group-contact, entity: group_contact, rate: 100/hour, per: upstream}
  - {name: reads, action: get, rate: 50/second}
"""

SHADOWED = """
policy: trial
mode: shadow
subjects: {roles: [sync]}
limits:
  - {rate: 1/hour}
"""


def _set() -> PolicySet:
    docs = [(n, load_yaml_text(t, n)) for n, t in (("a.yaml", LIMITED), ("b.yaml", SHADOWED))]
    return PolicySet(policies_from_documents(docs, DIALECTS))


def _who(*roles: str) -> Principal:
    return Principal(subject="svc", issuer="https://idp", roles=frozenset(roles))


@pytest.mark.parametrize(
    ("upstream", "ops", "expected"),
    [
        ("civi", [Operation("Contact", "get")], {"limited:all": 1, "limited:reads": 1}),
        ("civi", [Operation("contact", "delete")], {"limited:all": 1, "limited:contact-deletes": 1}),
        (
            "civi",
            [Operation("Contact", "delete"), Operation("Contact", "delete"), Operation("Email", "delete")],
            {"limited:all": 3, "limited:contact-deletes": 2},
        ),
        ("civi", [Operation("GroupContact", "create")], {"limited:all": 1, "limited:group-contact": 1}),
        ("civi", [Operation("Activity", "getsingle")], {"limited:all": 1, "limited:reads": 1}),
        ("civi", [Operation(OPAQUE, "GET /x")], {"limited:all": 1}),
        ("civi", [], {"limited:all": 1}),
        # espocrm compares entity names exactly and has no get group
        ("espo", [Operation("contact", "delete")], {"limited:all": 1}),
        ("espo", [Operation("Contact", "DELETE")], {"limited:all": 1, "limited:contact-deletes": 1}),
        ("espo", [Operation("Lead", "getsingle")], {"limited:all": 1}),
    ],
)
def test_charges_for_counts_covered_operations(
    upstream: str, ops: list[Operation], expected: dict[str, int]
) -> None:
    charged = _set().charges_for(_who("sync"), upstream, ops)
    assert {rule.name: cost for rule, cost in charged} == expected
    assert [r.name for r in _set().limits_for(_who("sync"), upstream, ops)] == [r.name for r, _ in charged]


def test_limits_for_returns_rule_values() -> None:
    rules = _set().limits_for(_who("sync"), "civi", [Operation("Contact", "delete")])
    deletes = next(r for r in rules if r.name == "limited:contact-deletes")
    assert (deletes.per, deletes.burst, deletes.entity, deletes.action, deletes.policy) == (
        "principal",
        10,
        "Contact",
        "delete",
        "limited",
    )
    assert deletes.rate_per_second == pytest.approx(10 / 3600)


def test_limits_only_from_applicable_enforce_policies() -> None:
    assert _set().limits_for(_who("other"), "civi", [Operation("Contact", "get")]) == []
    assert _set().limits_for(_who("sync"), "nowhere", [Operation("Contact", "get")]) == []
    names = [r.name for r in _set().limits_for(_who("sync"), "civi", [Operation("Contact", "get")])]
    assert not any(n.startswith("trial:") for n in names)
