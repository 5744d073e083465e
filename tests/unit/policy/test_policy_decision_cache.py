"""The memos of PolicySet.evaluate and limits_for_request never hand one principal another's answer.

The reference for every answer is a PolicySet that has only ever seen that one principal (its own memo
cannot hold anyone else's decision), or the same computation with the memo bypassed.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

import pytest

from gateway.config.loader import load_config_text
from gateway.config.model import RateLimitConfig
from gateway.configfile.source import load_yaml_text
from gateway.dialects.base import OPAQUE, Operation
from gateway.limits import _limits, limits_for_request
from gateway.policy import Decision, PolicySet
from gateway.policy.cache import Memo, principal_key
from gateway.policy.model import Subjects
from gateway.policy.policies import policies_from_documents
from gateway.principal import Principal

DIALECTS = {"civi": "civicrm", "espo": "espocrm"}
POLICIES = [
    """
policy: alice-only
subjects: {principals: [alice]}
upstreams: [civi, espo]
entities:
  Contact: {get: allow, create: allow}
  Lead: {read: allow}
""",
    """
policy: sales
subjects: {roles: [sales]}
upstreams: [civi, espo]
entities:
  Contact: {get: allow, delete: deny}
  Lead: {read: allow, edit: allow}
fields:
  Contact: {allow: [api_key]}
limits:
  - {name: sales-reads, action: get, rate: 10/second}
""",
    """
policy: writers
subjects: {scopes: [contacts.write]}
upstreams: [civi]
entities:
  Contact: {create: allow, update: allow}
limits:
  - {name: writes, rate: 5/second, per: principal}
""",
    """
policy: blocked
subjects: {roles: [blocked]}
upstreams: [civi, espo]
entities:
  "*": {default: deny}
""",
    """
policy: audit-trial
mode: shadow
subjects: {roles: [audit]}
upstreams: [civi]
entities:
  Contact: {get: deny}
""",
]


def policy_set() -> PolicySet:
    docs = [(f"p{i}.yaml", load_yaml_text(text, f"p{i}.yaml")) for i, text in enumerate(POLICIES)]
    return PolicySet(policies_from_documents(docs, DIALECTS))


def who(
    subject: str,
    roles: Sequence[str] = (),
    scopes: Sequence[str] = (),
    issuer: str = "https://idp-a",
    **claims: str,
) -> Principal:
    return Principal(subject, issuer, frozenset(roles), frozenset(scopes), {"sub": subject, **claims})


PRINCIPALS = [
    who("alice"),
    who("bob"),
    who("alice", issuer="https://idp-b"),
    who("bob", roles=["sales"]),
    who("bob", roles=["sales", "blocked"]),
    who("bob", roles=["sales", "audit"]),
    who("bob", scopes=["contacts.write"]),
    who("bob", roles=["sales"], scopes=["contacts.write"]),
    who("carol", roles=["sales"], tenant="t1"),
    who("carol", roles=["sales"], tenant="t2"),
]
OPERATIONS = [
    [Operation("Contact", "get")],
    [Operation("Contact", "get", fields=frozenset({"api_key"}))],
    [Operation("Contact", "create")],
    [Operation("Contact", "delete")],
    [Operation("Contact", "get"), Operation("Email", "get", via="chain:api.Email.get")],
    [Operation("Lead", "read")],
    [Operation("Lead", "edit", record_ids=("l1",))],
    [Operation(OPAQUE, "GET /civicrm/ajax/doc")],
    [],
]
UPSTREAMS = ["civi", "espo"]


def test_interleaved_requests_get_what_each_principal_alone_would_get() -> None:
    shared = policy_set()
    alone = {i: policy_set() for i in range(len(PRINCIPALS))}
    rng = random.Random(6)
    for _ in range(1500):
        i = rng.randrange(len(PRINCIPALS))
        upstream, ops = rng.choice(UPSTREAMS), rng.choice(OPERATIONS)
        assert shared.evaluate(PRINCIPALS[i], upstream, ops) == alone[i].evaluate(
            PRINCIPALS[i], upstream, ops
        )


def test_interleaved_requests_get_the_denied_fields_each_principal_alone_would_get() -> None:
    rng = random.Random(7)
    alone = {i: policy_set() for i in range(len(PRINCIPALS))}
    shared = policy_set()
    for _ in range(2000):
        i = rng.randrange(len(PRINCIPALS))
        upstream, ops = rng.choice(UPSTREAMS), rng.choice(OPERATIONS)
        expected = alone[i]._denied_fields(PRINCIPALS[i], upstream, ops)
        assert shared.denied_fields(PRINCIPALS[i], upstream, ops) == expected
        assert alone[i].denied_fields(PRINCIPALS[i], upstream, ops) == expected
    assert len({shared.denied_fields(p, "civi", OPERATIONS[0]) for p in PRINCIPALS}) > 1  # they disagree


def test_the_principals_really_disagree() -> None:
    """Guards the test above: a memo that ignored the principal would fail it."""
    ps = policy_set()
    for upstream, ops in [("civi", OPERATIONS[0]), ("civi", OPERATIONS[2]), ("espo", OPERATIONS[5])]:
        decisions = {ps._evaluate(p, upstream, ops) for p in PRINCIPALS}
        assert len({(d.allowed, d.rule) for d in decisions}) >= 3


def _verdict(decision: Decision) -> tuple[bool, str, tuple[str, ...]]:
    return decision.allowed, decision.rule, tuple(s.rule for s in decision.shadow if not s.allowed)


ALLOWED_GET = (True, "alice-only:entities.Contact.get", ())
SALES_GET = (True, "sales:entities.Contact.get", ())


@pytest.mark.parametrize(
    ("first", "second", "ops", "first_verdict", "second_verdict"),
    [
        # subject
        (who("alice"), who("bob"), OPERATIONS[0], ALLOWED_GET, (False, "default-deny", ())),
        # one role more: a deny that wins
        (
            who("bob", roles=["sales"]),
            who("bob", roles=["sales", "blocked"]),
            OPERATIONS[0],
            SALES_GET,
            (False, "blocked:entities.*.default", ()),
        ),
        # one role more: a shadow policy that would refuse
        (
            who("bob", roles=["sales"]),
            who("bob", roles=["sales", "audit"]),
            OPERATIONS[0],
            SALES_GET,
            (True, "sales:entities.Contact.get", ("audit-trial:entities.Contact.get",)),
        ),
        # scope
        (
            who("bob", scopes=["contacts.write"]),
            who("bob"),
            OPERATIONS[2],
            (True, "writers:entities.Contact.create", ()),
            (False, "default-deny", ()),
        ),
        # a sensitive field lifted by one role only
        (
            who("bob", roles=["sales"]),
            who("alice"),
            OPERATIONS[1],
            SALES_GET,
            (False, "builtin:fields.api_key", ()),
        ),
    ],
)
def test_principals_differing_in_one_thing_get_their_own_decision(
    first: Principal,
    second: Principal,
    ops: list[Operation],
    first_verdict: tuple[bool, str, tuple[str, ...]],
    second_verdict: tuple[bool, str, tuple[str, ...]],
) -> None:
    for order in ((first, second), (second, first)):
        ps = policy_set()
        for _ in range(2):  # the second round is answered from the memo
            for principal in order:
                want = first_verdict if principal is first else second_verdict
                assert _verdict(ps.evaluate(principal, "civi", ops)) == want


def test_a_repeated_request_is_answered_from_the_memo() -> None:
    ps = policy_set()
    first = ps.evaluate(who("alice"), "civi", OPERATIONS[0])
    assert ps.evaluate(who("alice", tenant="other"), "civi", list(OPERATIONS[0])) is first
    assert ps.evaluate(who("alice"), "espo", OPERATIONS[0]) is not first


def test_an_operation_with_unhashable_parts_is_decided_without_the_memo() -> None:
    odd = Operation("Contact", "get", fields={"api_key"})  # type: ignore[arg-type]
    ps = policy_set()
    assert _verdict(ps.evaluate(who("bob", roles=["sales"]), "civi", [odd])) == SALES_GET
    assert _verdict(ps.evaluate(who("alice"), "civi", [odd])) == (False, "builtin:fields.api_key", ())


def test_the_key_covers_every_principal_field_a_policy_can_read() -> None:
    """A new Principal or Subjects field must be judged for ``principal_key`` before this passes."""
    assert [f.name for f in dataclasses.fields(Principal)] == [
        "subject",
        "issuer",
        "roles",
        "scopes",
        "claims",
        "expires_at",
    ]
    assert [f.name for f in dataclasses.fields(Subjects)] == ["principals", "roles", "scopes"]
    base = who("bob", roles=["r"], scopes=["s"])
    for changed in (
        dataclasses.replace(base, subject="bobby"),
        dataclasses.replace(base, issuer="https://idp-b"),
        dataclasses.replace(base, roles=frozenset({"r", "r2"})),
        dataclasses.replace(base, scopes=frozenset()),
    ):
        assert principal_key(changed) != principal_key(base)


RATELIMIT_CONFIG = """\
identity:
  issuers:
    - issuer: https://idp-a
      audiences: [crm-gateway]
      algorithms: [HS256]
      hs256_secrets: [a-test-secret-that-is-long-enough-0123456789]
upstreams:
  civi:
    dialect: civicrm
    url: http://127.0.0.1:9001
    match: {path_prefix: /civi}
    auth: {scheme: authx-jwt, sign_keys: 'jwt-hs256:hkdf-sha256:sign-secret'}
  espo:
    dialect: espocrm
    url: http://127.0.0.1:9002
    match: {path_prefix: /espo}
    auth: {scheme: espo-hmac}
ratelimit:
  limits:
    - {name: everyone, rate: 100/second, per: global}
    - {name: each, rate: 50/second}
"""


def limits_setup() -> tuple[PolicySet, RateLimitConfig]:
    return policy_set(), load_config_text(RATELIMIT_CONFIG, "gateway.yaml").ratelimit


def test_limits_of_interleaved_requests_are_each_principals_own() -> None:
    policies, settings = limits_setup()
    rng = random.Random(7)
    for _ in range(1000):
        principal = rng.choice(PRINCIPALS)
        upstream, ops = rng.choice(UPSTREAMS), rng.choice(OPERATIONS)
        assert limits_for_request(policies, settings, principal, upstream, ops) == _limits(
            policies, settings, principal, upstream, ops
        )


def test_same_subject_of_another_issuer_is_charged_its_own_bucket() -> None:
    policies, settings = limits_setup()
    ops = OPERATIONS[0]
    first = limits_for_request(policies, settings, who("alice"), "civi", ops)
    other = limits_for_request(policies, settings, who("alice", issuer="https://idp-b"), "civi", ops)
    keys = {limit.name: limit.key for limit, _ in first}
    other_keys = {limit.name: limit.key for limit, _ in other}
    assert keys.keys() == other_keys.keys() == {"gateway:everyone", "gateway:each"}
    assert keys["gateway:everyone"] == other_keys["gateway:everyone"]
    assert keys["gateway:each"] != other_keys["gateway:each"]


def test_new_ratelimit_settings_on_the_same_policies_are_not_answered_from_the_memo() -> None:
    policies, settings = limits_setup()
    principal, ops = who("bob", roles=["sales"]), OPERATIONS[0]
    before = limits_for_request(policies, settings, principal, "civi", ops)
    changed = dataclasses.replace(settings, limits=settings.limits[:1])
    after = limits_for_request(policies, changed, principal, "civi", ops)
    assert [limit.name for limit, _ in before] == ["gateway:everyone", "gateway:each", "sales:sales-reads"]
    assert [limit.name for limit, _ in after] == ["gateway:everyone", "sales:sales-reads"]


def test_a_caller_changing_its_list_does_not_change_the_memo() -> None:
    policies, settings = limits_setup()
    principal, ops = who("bob", roles=["sales"]), OPERATIONS[0]
    limits_for_request(policies, settings, principal, "civi", ops).clear()
    assert len(limits_for_request(policies, settings, principal, "civi", ops)) == 3


def test_memo_keeps_the_most_recently_used() -> None:
    memo: Memo[str] = Memo(2)
    memo.put("a", "A")
    memo.put("b", "B")
    assert memo.get("a") == "A"  # now b is the least recently used
    memo.put("c", "C")
    assert (memo.get("a"), memo.get("b"), memo.get("c"), len(memo)) == ("A", None, "C", 2)


def test_memo_is_bounded_under_many_principals() -> None:
    ps = policy_set()
    for n in range(5000):
        ps.evaluate(who(f"user-{n}"), "civi", OPERATIONS[0])
    assert len(ps._decisions) == ps._decisions.size
