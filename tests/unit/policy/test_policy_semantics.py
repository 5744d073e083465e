"""What PolicySet.evaluate decides: lookup order, combination across policies, fields, opaque, shadow."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.configfile.source import load_yaml_text
from gateway.dialects.base import OPAQUE, Operation
from gateway.policy import Decision, PolicySet
from gateway.policy.policies import policies_from_documents
from gateway.principal import Principal

DIALECTS = {"civi": "civicrm", "espo": "espocrm"}

BASE = """
policy: base
subjects: {roles: [sync]}
upstreams: [civi]
entities:
  Contact: {get: allow, create: allow, delete: deny, meta: allow, default: deny}
  GroupContact: {default: allow}
  "*": {get: allow, meta: allow}
fields:
  Contact: {deny: [birth_date]}
opaque: ["GET /civicrm/ajax/doc"]
"""

ESPO = """
policy: sales
subjects: {roles: [sales]}
upstreams: [espo]
entities:
  Lead: {read: allow, edit: allow, delete: deny}
opaque: ["GET /App/user"]
"""


def policies(*texts: str) -> PolicySet:
    return PolicySet(
        policies_from_documents(
            [(f"p{i}.yaml", load_yaml_text(text, f"p{i}.yaml")) for i, text in enumerate(texts)], DIALECTS
        )
    )


def who(subject: str = "svc", roles: tuple[str, ...] = ("sync",), scopes: tuple[str, ...] = ()) -> Principal:
    return Principal(
        subject=subject, issuer="https://idp.example.org", roles=frozenset(roles), scopes=frozenset(scopes)
    )


def op(entity: str, action: str, *fields: str) -> Operation:
    return Operation(entity, action, fields=frozenset(fields))


def decide(ps: PolicySet, operation: Operation, upstream: str = "civi", **kw: tuple[str, ...]) -> Decision:
    return ps.evaluate(who(**kw), upstream, [operation])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("operation", "allowed", "rule"),
    [
        (op("Contact", "get"), True, "base:entities.Contact.get"),
        (op("contact", "get"), True, "base:entities.Contact.get"),
        (op("Contact", "GET"), True, "base:entities.Contact.get"),
        (op("Contact", "getsingle"), True, "base:entities.Contact.get"),
        (op("Contact", "getcount"), True, "base:entities.Contact.get"),
        (op("Contact", "getFields"), True, "base:entities.Contact.meta"),
        (op("Contact", "getfields"), True, "base:entities.Contact.meta"),
        (op("Contact", "getActions"), True, "base:entities.Contact.meta"),
        (op("Contact", "checkAccess"), True, "base:entities.Contact.meta"),
        (op("Contact", "create"), True, "base:entities.Contact.create"),
        (op("Contact", "delete"), False, "base:entities.Contact.delete"),
        (op("Contact", "update"), False, "base:entities.Contact.default"),
        (op("Contact", "getquick"), False, "base:entities.Contact.default"),
        (op("GroupContact", "create"), True, "base:entities.GroupContact.default"),
        (op("group_contact", "delete"), True, "base:entities.GroupContact.default"),
        (op("GROUP_CONTACT", "get"), True, "base:entities.GroupContact.default"),
        (op("Activity", "get"), True, "base:entities.*.get"),
        (op("Activity", "getvalue"), True, "base:entities.*.get"),
        (op("Activity", "getoptions"), True, "base:entities.*.meta"),
        (op("Activity", "create"), False, "default-deny"),
        (op("Activity", "getquick"), False, "default-deny"),
    ],
)
def test_action_then_group_then_default_then_wildcard(operation: Operation, allowed: bool, rule: str) -> None:
    decision = decide(policies(BASE), operation)
    assert (decision.allowed, decision.rule) == (allowed, rule)
    assert decision.denied == (None if allowed else operation)
    assert decision.matched == ("base",)


@pytest.mark.parametrize(
    ("operation", "allowed", "rule"),
    [
        (op("Contact", "get", "display_name"), True, "base:entities.Contact.get"),
        (op("Contact", "get", "display_name", "birth_date"), False, "base:fields.Contact.deny"),
        (op("contact", "update", "BIRTH_DATE"), False, "base:entities.Contact.default"),
        (op("Activity", "get", "contact_id.birth_date"), True, "base:entities.*.get"),
        (op("Contact", "get", "api_key"), False, "builtin:fields.api_key"),
        (op("Activity", "get", "source_contact_id.api_key"), False, "builtin:fields.api_key"),
        (op("Activity", "get", "API_KEY:label"), False, "builtin:fields.api_key"),
        (op("Activity", "create", "api_key"), False, "default-deny"),
    ],
)
def test_field_rules(operation: Operation, allowed: bool, rule: str) -> None:
    decision = decide(policies(BASE), operation)
    assert (decision.allowed, decision.rule) == (allowed, rule)


API_KEY_ALLOW = """
policy: keys
subjects: {roles: [keys]}
entities:
  Contact: {get: allow}
fields:
  Contact: {allow: [api_key]}
"""


@pytest.mark.parametrize(
    ("roles", "operation", "allowed", "rule"),
    [
        (("keys",), op("Contact", "get", "api_key"), True, "keys:entities.Contact.get"),
        (("keys",), op("contact", "get", "id", "api_key"), True, "keys:entities.Contact.get"),
        # the allow names Contact: an api_key read through another entity stays denied
        (("keys", "sync"), op("Activity", "get", "contact_id.api_key"), False, "builtin:fields.api_key"),
        # an allow in one applicable policy lifts the built-in denial for an action another policy allows
        (("keys", "sync"), op("Contact", "getsingle", "api_key"), True, "base:entities.Contact.get"),
        # but never an explicit deny
        (("keys", "sync"), op("Contact", "delete", "api_key"), False, "base:entities.Contact.delete"),
        # a principal the allowing policy does not cover gets no lift
        (("sync",), op("Contact", "get", "api_key"), False, "builtin:fields.api_key"),
    ],
)
def test_api_key_only_with_an_explicit_allow(
    roles: tuple[str, ...], operation: Operation, allowed: bool, rule: str
) -> None:
    decision = decide(policies(BASE, API_KEY_ALLOW), operation, roles=roles)
    assert (decision.allowed, decision.rule) == (allowed, rule)


def test_api_key_is_not_special_outside_civicrm() -> None:
    decision = decide(policies(ESPO), op("Lead", "read", "api_key"), "espo", roles=("sales",))
    assert decision.allowed


ALLOW_ALL = """
policy: allow-all
subjects: {roles: [sync]}
entities:
  "*": {default: allow}
"""


@pytest.mark.parametrize("order", ["deny-first", "allow-first"])
@pytest.mark.parametrize(
    ("operation", "allowed", "rule"),
    [
        (op("Contact", "delete"), False, "base:entities.Contact.delete"),
        # default: deny inside an entity map is an explicit deny too
        (op("Contact", "update"), False, "base:entities.Contact.default"),
        (op("Contact", "get", "birth_date"), False, "base:fields.Contact.deny"),
        # base has no opinion on Activity.create: the other policy's allow decides
        (op("Activity", "create"), True, "allow-all:entities.*.default"),
    ],
)
def test_explicit_deny_wins_across_policies(
    order: str, operation: Operation, allowed: bool, rule: str
) -> None:
    texts = (BASE, ALLOW_ALL) if order == "deny-first" else (ALLOW_ALL, BASE)
    decision = decide(policies(*texts), operation)
    assert (decision.allowed, decision.rule) == (allowed, rule)
    assert set(decision.matched) == {"base", "allow-all"}


@pytest.mark.parametrize(
    ("upstream", "operation", "roles", "allowed", "rule"),
    [
        (
            "civi",
            Operation(OPAQUE, "GET /civicrm/ajax/doc"),
            ("sync",),
            True,
            "base:opaque.GET /civicrm/ajax/doc",
        ),
        ("civi", Operation(OPAQUE, "GET /civicrm/ajax/DOC"), ("sync",), False, "default-deny"),
        ("civi", Operation(OPAQUE, "POST /civicrm/ajax/doc"), ("sync",), False, "default-deny"),
        ("espo", Operation(OPAQUE, "GET /App/user"), ("sales",), True, "sales:opaque.GET /App/user"),
        # a route allowed on another upstream, or by a policy of another subject, is not allowed here
        ("espo", Operation(OPAQUE, "GET /civicrm/ajax/doc"), ("sync", "sales"), False, "default-deny"),
        ("civi", Operation(OPAQUE, "GET /App/user"), ("sync", "sales"), False, "default-deny"),
    ],
)
def test_opaque_routes_need_an_exact_listing(
    upstream: str, operation: Operation, roles: tuple[str, ...], allowed: bool, rule: str
) -> None:
    decision = decide(policies(BASE, ESPO), operation, upstream, roles=roles)
    assert (decision.allowed, decision.rule) == (allowed, rule)


def test_wildcard_entity_and_default_never_grant_an_opaque_route() -> None:
    decision = decide(policies(ALLOW_ALL), Operation(OPAQUE, "GET /civicrm/ajax/doc"))
    assert not decision.allowed
    assert decision.rule == "default-deny"


SUBJECTS = """
policy: subjects
subjects: {principals: [svc-a], roles: [role-b], scopes: [crm.c]}
entities:
  "*": {default: allow}
"""


@pytest.mark.parametrize(
    ("principal", "applies"),
    [
        (who("svc-a", roles=()), True),
        (who("svc-x", roles=("role-b",)), True),
        (who("svc-x", roles=(), scopes=("crm.c",)), True),
        (who("svc-x", roles=("other",), scopes=("crm.write",)), False),
        (who("svc-A", roles=("Role-B",), scopes=("CRM.C",)), False),
        (who("role-b", roles=("svc-a",), scopes=()), False),
    ],
)
def test_subjects_match_by_principal_role_or_scope(principal: Principal, applies: bool) -> None:
    decision = policies(SUBJECTS).evaluate(principal, "civi", [op("Contact", "get")])
    assert decision.allowed is applies
    assert decision.matched == (("subjects",) if applies else ())


@pytest.mark.parametrize(
    ("upstream", "allowed"),
    [("civi", True), ("espo", False), ("unknown", False)],
)
def test_upstream_filter(upstream: str, allowed: bool) -> None:
    decision = decide(policies(BASE), op("Contact", "get"), upstream)
    assert decision.allowed is allowed


def test_policy_without_upstreams_covers_every_upstream() -> None:
    ps = policies(ALLOW_ALL)
    assert decide(ps, op("Contact", "get"), "civi").allowed
    assert decide(ps, op("Lead", "read"), "espo").allowed


@pytest.mark.parametrize(
    ("operation", "allowed", "rule"),
    [
        (op("Lead", "read"), True, "sales:entities.Lead.read"),
        (op("Lead", "Read"), True, "sales:entities.Lead.read"),
        (op("Lead", "delete"), False, "sales:entities.Lead.delete"),
        # espocrm compares entity names exactly, and has no action groups
        (op("lead", "read"), False, "default-deny"),
        (op("Lead", "getsingle"), False, "default-deny"),
        (op("Lead", "stream"), False, "default-deny"),
    ],
)
def test_espocrm_names(operation: Operation, allowed: bool, rule: str) -> None:
    decision = decide(policies(ESPO), operation, "espo", roles=("sales",))
    assert (decision.allowed, decision.rule) == (allowed, rule)


def test_no_operation_is_denied() -> None:
    decision = policies(ALLOW_ALL).evaluate(who(), "civi", [])
    assert not decision.allowed
    assert decision.rule == "default-deny"
    assert decision.denied is None
    assert decision.matched == ("allow-all",)


def test_no_policy_at_all_denies() -> None:
    decision = PolicySet(policies_from_documents([], DIALECTS)).evaluate(
        who(), "civi", [op("Contact", "get")]
    )
    assert (decision.allowed, decision.rule, decision.matched) == (False, "default-deny", ())


def test_every_operation_must_be_allowed_and_the_first_refused_one_is_reported() -> None:
    ops = [op("Contact", "get"), op("Email", "get"), op("Contact", "delete"), op("Activity", "create")]
    decision = policies(BASE).evaluate(who(), "civi", ops)
    assert not decision.allowed
    assert decision.denied is ops[2]
    assert decision.rule == "base:entities.Contact.delete"
    allowed = policies(BASE).evaluate(who(), "civi", ops[:2])
    assert allowed.allowed
    assert allowed.rule == "base:entities.Contact.get"
    assert allowed.denied is None


SHADOW_STRICT = """
policy: strict
mode: shadow
subjects: {roles: [sync]}
entities:
  Contact: {get: deny}
"""

SHADOW_LOOSE = """
policy: loose
mode: shadow
subjects: {roles: [sync]}
entities:
  Activity: {create: allow}
"""


def test_shadow_policies_are_reported_and_never_change_the_outcome() -> None:
    ps = policies(BASE, SHADOW_STRICT, SHADOW_LOOSE)
    read = ps.evaluate(who(), "civi", [op("Contact", "get")])
    assert read.allowed
    assert read.matched == ("base",)
    assert {s.policy: (s.allowed, s.rule) for s in read.shadow} == {
        "strict": (False, "strict:entities.Contact.get"),
        "loose": (True, "base:entities.Contact.get"),
    }
    write = ps.evaluate(who(), "civi", [op("Activity", "create")])
    assert not write.allowed
    assert write.rule == "default-deny"
    loose = next(s for s in write.shadow if s.policy == "loose")
    assert (loose.allowed, loose.rule, loose.denied) == (True, "loose:entities.Activity.create", None)
    strict = next(s for s in write.shadow if s.policy == "strict")
    assert (strict.allowed, strict.denied) == (False, op("Activity", "create"))


def test_shadow_policy_alone_denies_by_default_without_changing_anything() -> None:
    decision = policies(SHADOW_LOOSE).evaluate(who(), "civi", [op("Activity", "create")])
    assert not decision.allowed
    assert decision.matched == ()
    assert [(s.policy, s.allowed) for s in decision.shadow] == [("loose", True)]


@pytest.mark.parametrize(
    ("operation", "fragments"),
    [
        (op("Contact", "delete"), ["Contact.delete", "base:entities.Contact.delete"]),
        (op("Activity", "create"), ["Activity.create", "default-deny"]),
        (op("Contact", "get", "birth_date"), ["Contact.get", "base:fields.Contact.deny"]),
        (Operation(OPAQUE, "GET /secret"), ["GET /secret", "default-deny"]),
    ],
)
def test_message_names_entity_action_and_rule(operation: Operation, fragments: list[str]) -> None:
    message = decide(policies(BASE), operation).message
    for fragment in fragments:
        assert fragment in message
    assert "p0.yaml" not in message


def test_message_neutralises_client_chosen_names() -> None:
    message = decide(policies(BASE), op("Contact\r\nX-Injected: 1", "x" * 500)).message
    assert "\r" not in message and "\n" not in message
    assert len(message) < 300


def test_explain_gives_each_operation_its_own_decision() -> None:
    ops = [op("Contact", "get"), op("Contact", "delete"), Operation(OPAQUE, "GET /civicrm/ajax/doc")]
    explained = policies(BASE).explain(who(), "civi", ops)
    assert [(o, d.allowed, d.rule) for o, d in explained] == [
        (ops[0], True, "base:entities.Contact.get"),
        (ops[1], False, "base:entities.Contact.delete"),
        (ops[2], True, "base:opaque.GET /civicrm/ajax/doc"),
    ]


def test_decision_is_immutable() -> None:
    decision = decide(policies(BASE), op("Contact", "get"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.allowed = False  # type: ignore[misc]
