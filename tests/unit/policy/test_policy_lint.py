"""Policies.lint(): typos, rules that can never match, and rules hidden by others."""

from __future__ import annotations

import pytest

from gateway.configfile.source import load_yaml_text
from gateway.policy import ConfigIssue
from gateway.policy.policies import policies_from_documents

DIALECTS = {"civi": "civicrm", "espo": "espocrm"}


def lint(body: str, upstreams: str = "[civi]", dialects: dict[str, str] | None = None) -> list[ConfigIssue]:
    text = f"policy: p\nsubjects: {{roles: [r]}}\nupstreams: {upstreams}\n{body}"
    ps = policies_from_documents([("p.yaml", load_yaml_text(text, "p.yaml"))], dialects or DIALECTS)
    return ps.lint()


def only(issues: list[ConfigIssue]) -> ConfigIssue:
    assert len(issues) == 1, issues
    return issues[0]


@pytest.mark.parametrize(
    ("upstreams", "body", "line", "key", "fragment"),
    [
        ("[civi]", "entities:\n  Contcat: {get: allow}\n", 5, "entities.Contcat", "did you mean Contact?"),
        (
            "[civi]",
            "entities:\n  GroupContac: {get: allow}\n",
            5,
            "entities.GroupContac",
            "did you mean GroupContact?",
        ),
        ("[espo]", "entities:\n  lead: {read: allow}\n", 5, "entities.lead", "did you mean Lead?"),
        ("[civi]", "entities:\n  Zorglub: {get: allow}\n", 5, "entities.Zorglub", "custom entity?"),
        ("[civi]", "fields:\n  Contcat: {deny: [x]}\n", 5, "fields.Contcat", "did you mean Contact?"),
        (
            "[civi]",
            "limits:\n  - {entity: Contcat, rate: 1/s}\n",
            5,
            "limits[0].entity",
            "did you mean Contact?",
        ),
    ],
)
def test_unknown_entities(upstreams: str, body: str, line: int, key: str, fragment: str) -> None:
    issue = only(lint(body, upstreams))
    assert (issue.severity, issue.file, issue.line, issue.key) == ("warning", "p.yaml", line, key)
    assert fragment in issue.message


@pytest.mark.parametrize(
    ("upstreams", "entity", "action"),
    [
        ("[civi]", "group_contact", "get"),
        ("[civi]", "Custom_Volunteer", "get"),
        ("[espo]", "CProject", "read"),
        ("[espo]", "Lead", "star"),
        ("[civi, espo]", "Lead", "update"),
        ("[civi, espo]", "Lead", "read"),
        ("[civi, espo]", "Contact", "getFields"),
    ],
)
def test_known_and_custom_names_are_quiet(upstreams: str, entity: str, action: str) -> None:
    assert lint(f"entities:\n  {entity}: {{{action}: allow}}\n", upstreams) == []


@pytest.mark.parametrize(
    ("upstreams", "body", "key", "fragment"),
    [
        ("[civi]", "entities:\n  Contact: {gte: allow}\n", "entities.Contact.gte", "did you mean get?"),
        (
            "[civi]",
            "entities:\n  Contact: {getFeilds: allow}\n",
            "entities.Contact.getFeilds",
            "did you mean getfields?",
        ),
        (
            "[civi]",
            "entities:\n  Contact: {save: allow}\n",
            "entities.Contact.save",
            "expands save into create/update",
        ),
        ("[espo]", "entities:\n  Lead: {raed: allow}\n", "entities.Lead.raed", "did you mean read?"),
        (
            "[espo]",
            "entities:\n  Lead: {update: allow}\n",
            "entities.Lead.update",
            "expands update into edit",
        ),
        (
            "[espo]",
            "entities:\n  Lead: {convert: allow}\n",
            "entities.Lead.convert",
            "expands convert into edit",
        ),
        ("[civi]", "limits:\n  - {action: delte, rate: 1/s}\n", "limits[0].action", "did you mean delete?"),
    ],
)
def test_unknown_actions(upstreams: str, body: str, key: str, fragment: str) -> None:
    issue = only(lint(body, upstreams))
    assert issue.key == key
    assert fragment in issue.message


@pytest.mark.parametrize(
    ("upstreams", "body", "key", "fragment"),
    [
        (
            "[espo]",
            "entities:\n  GroupContact: {default: allow}\n",
            "entities.GroupContact",
            "GroupContact is a civicrm entity, but this policy covers only espocrm upstreams (espo)",
        ),
        (
            "[civi]",
            "entities:\n  Opportunity: {default: allow}\n",
            "entities.Opportunity",
            "is a espocrm entity",
        ),
        (
            "[espo]",
            "entities:\n  Lead: {getFields: allow}\n",
            "entities.Lead.getFields",
            "is a civicrm action",
        ),
        ("[espo]", "entities:\n  Lead: {meta: allow}\n", "entities.Lead.meta", "never matches"),
        ("[civi]", "entities:\n  Contact: {edit: allow}\n", "entities.Contact.edit", "is a espocrm action"),
    ],
)
def test_rules_for_another_dialect_never_match(upstreams: str, body: str, key: str, fragment: str) -> None:
    issue = only(lint(body, upstreams))
    assert issue.key == key
    assert fragment in issue.message


def test_design_example_warns_that_wildcard_meta_does_not_reach_contact() -> None:
    body = (
        "entities:\n"
        "  Contact: {get: allow, create: allow, update: allow, default: deny}\n"
        "  Email: {default: allow}\n"
        '  "*": {meta: allow}\n'
    )
    issue = only(lint(body))
    assert (issue.line, issue.key) == (5, "entities.Contact")
    assert "'*' rules meta do not apply to Contact" in issue.message
    assert "Contact.default" in issue.message


def test_entity_without_default_hides_wildcard_rules() -> None:
    issue = only(lint('entities:\n  Contact: {get: allow}\n  "*": {meta: allow, default: deny}\n'))
    assert "'*' rules meta, default do not apply to Contact" in issue.message
    assert "fall to no rule" in issue.message


def test_empty_entity_map_is_reported() -> None:
    issue = only(lint('entities:\n  Contact: {}\n  "*": {get: allow}\n'))
    assert (issue.key, issue.line) == ("entities.Contact", 5)
    assert "no rules" in issue.message


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ("Contact: {deny: [api_key], allow: [api_key]}", "both denied and allowed"),
        ('"*": {deny: [api_key]}\n  Contact: {allow: [api_key]}', "both denied and allowed"),
        ("Contact: {allow: [display_name]}", "display_name is not one"),
    ],
)
def test_field_allows_that_do_nothing(fields: str, fragment: str) -> None:
    issue = only(lint(f"entities:\n  Contact: {{get: allow}}\nfields:\n  {fields}\n"))
    assert issue.key.startswith("fields.")
    assert issue.key.endswith(".allow")
    assert fragment in issue.message


def test_policy_without_rules() -> None:
    issue = only(lint(""))
    assert "has no rules" in issue.message


def test_policy_for_no_upstream() -> None:
    text = "policy: p\nsubjects: {roles: [r]}\nentities:\n  Contact: {get: allow}\n"
    ps = policies_from_documents([("p.yaml", load_yaml_text(text, "p.yaml"))], {})
    assert "applies to no configured upstream" in only(ps.lint()).message


def test_unknown_dialect_is_not_checked() -> None:
    assert lint("entities:\n  Whatever: {frobnicate: allow}\n", "[x]", {"x": "sugarcrm"}) == []


def test_clean_policy_has_no_issues() -> None:
    body = (
        "entities:\n"
        "  Contact: {get: allow, meta: allow, default: deny}\n"
        '  "*": {meta: allow}\n'
        "fields:\n"
        "  Contact: {deny: [birth_date], allow: [api_key]}\n"
        "limits:\n"
        "  - {entity: Contact, action: create, rate: 10/minute}\n"
    )
    assert lint(body) == []


def test_issue_renders_file_line_key() -> None:
    issue = only(lint("entities:\n  Contcat: {get: allow}\n"))
    assert str(issue).startswith("p.yaml:5: entities.Contcat: unknown civicrm entity Contcat")
