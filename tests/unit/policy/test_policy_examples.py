"""Every example in policies/ loads, lints clean, and says what its comments promise."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.dialects.base import OPAQUE, Operation
from gateway.policy import PolicySet
from gateway.policy.policies import load_policies
from gateway.principal import Principal

POLICIES = Path(__file__).resolve().parents[3] / "policies"
DIALECTS = {"civi": "civicrm", "espo": "espocrm"}
EXAMPLES = sorted(POLICIES.glob("*.yaml"))


def test_the_four_examples_exist() -> None:
    assert {p.stem for p in EXAMPLES} >= {"newsletter-sync", "read-only-reporting", "espo-sales", "admin-all"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_loads_alone_and_lints_clean(path: Path) -> None:
    ps = load_policies([path], DIALECTS)
    assert [p.name for p in ps.policies] == [path.stem]
    assert ps.lint() == []


def _who(subject: str, *roles: str, scopes: tuple[str, ...] = ()) -> Principal:
    return Principal(
        subject=subject, issuer="https://idp.example.org", roles=frozenset(roles), scopes=frozenset(scopes)
    )


NEWSLETTER = _who("svc-newsletter")
REPORTING = _who("bi", scopes=("crm.read",))
SALES = _who("alice", "sales")
ADMIN = _who("bob", "crm-admin")


@pytest.mark.parametrize(
    ("principal", "upstream", "operation", "allowed"),
    [
        (NEWSLETTER, "civi", Operation("Contact", "get"), True),
        (NEWSLETTER, "civi", Operation("Contact", "getFields"), True),
        (NEWSLETTER, "civi", Operation("Contact", "delete"), False),
        (NEWSLETTER, "civi", Operation("Contact", "get", fields=frozenset({"api_key"})), False),
        (NEWSLETTER, "civi", Operation("Email", "create"), True),
        (NEWSLETTER, "civi", Operation("group_contact", "delete"), True),
        (NEWSLETTER, "civi", Operation("Activity", "getfields"), True),
        (NEWSLETTER, "civi", Operation("Activity", "get"), False),
        (NEWSLETTER, "espo", Operation("Contact", "read"), False),
        (REPORTING, "civi", Operation("Contribution", "getcount"), True),
        (REPORTING, "civi", Operation("Contact", "get", fields=frozenset({"birth_date"})), False),
        (REPORTING, "civi", Operation("Contact", "create"), False),
        (REPORTING, "espo", Operation("Opportunity", "read"), True),
        (REPORTING, "espo", Operation("Opportunity", "edit"), False),
        (SALES, "espo", Operation("Lead", "delete"), False),
        (SALES, "espo", Operation(OPAQUE, "GET /App/user"), True),
        (SALES, "espo", Operation("User", "read"), False),
        (SALES, "civi", Operation("Contact", "get"), False),
        (ADMIN, "civi", Operation("Contact", "delete"), True),
        (ADMIN, "civi", Operation("Contact", "get", fields=frozenset({"api_key"})), False),
        (ADMIN, "espo", Operation("User", "edit"), True),
        (ADMIN, "espo", Operation(OPAQUE, "GET /Metadata"), True),
        (ADMIN, "espo", Operation(OPAQUE, "POST /Admin/rebuild"), False),
        # an admin who is also in the sales role keeps the sales policy's explicit denials
        (_who("carol", "crm-admin", "sales"), "espo", Operation("Lead", "delete"), False),
    ],
)
def test_examples_together(principal: Principal, upstream: str, operation: Operation, allowed: bool) -> None:
    ps = PolicySet(load_policies([POLICIES], DIALECTS))
    assert ps.evaluate(principal, upstream, [operation]).allowed is allowed


def test_lead_conversion_as_the_espocrm_dialect_reports_it() -> None:
    ps = PolicySet(load_policies([POLICIES], DIALECTS))
    convert = [Operation("Lead", "edit", record_ids=("l1",))]
    convert += [Operation(e, "create", via="convert:Lead") for e in ("Account", "Contact", "Opportunity")]
    assert ps.evaluate(SALES, "espo", convert).allowed
    assert not ps.evaluate(SALES, "espo", [*convert, Operation("Case", "create")]).allowed


def test_example_limits() -> None:
    ps = PolicySet(load_policies([POLICIES / "newsletter-sync.yaml"], DIALECTS))
    charged = ps.charges_for(NEWSLETTER, "civi", [Operation("Contact", "create")] * 3)
    assert {(r.name, r.burst, cost) for r, cost in charged} == {
        ("newsletter-sync:limits[0]", 60, 3),
        ("newsletter-sync:contact-writes", 100, 3),
    }
