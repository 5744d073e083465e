"""Label bounding: only known, finite values become labels; everything else is ``other``."""

from __future__ import annotations

import pytest

from gateway.observability import labels as lb
from gateway.observability.labels import AdmittedValues, LabelBounds
from gateway.observability.metrics import GatewayMetrics

BOUNDS = LabelBounds(upstreams=["civi", "espo"], entities=["Newsletter_Subscription", "*"], actions=["sync"])


@pytest.mark.parametrize(
    ("given", "label"),
    [
        ("Contact", "Contact"),
        ("contact", "Contact"),  # v3 names are case-insensitive
        ("Group_Contact", "GroupContact"),  # ... and ignore underscores
        ("Lead", "Lead"),  # an Espo entity
        ("MassAction", "MassAction"),
        ("Newsletter_Subscription", "Newsletter_Subscription"),  # named in a policy
        ("NewsletterSubscription", "Newsletter_Subscription"),
        ("SecretCustomEntity", "other"),
        ("*", "other"),  # a policy wildcard is not an entity
        ("0123456789abcdef", "other"),  # a record id
        ("Contact/42", "other"),
        ("<opaque>", "opaque"),
        (None, "none"),
    ],
)
def test_entity_label(given: str | None, label: str) -> None:
    assert BOUNDS.entity(given) == label


@pytest.mark.parametrize(
    ("given", "entity", "label"),
    [
        ("get", "Contact", "get"),
        ("getFields", "Contact", "getFields"),
        ("GETSINGLE", "Contact", "getsingle"),
        ("massUpdate", "Lead", "massUpdate"),
        ("sync", "Contact", "sync"),
        ("drop_all_tables", "Contact", "other"),
        ("/civicrm/ajax/api4/Contact/get?id=42", "<opaque>", "opaque"),  # an opaque route never leaks
        ("get", "<opaque>", "opaque"),
        (None, None, "none"),
    ],
)
def test_action_label(given: str | None, entity: str | None, label: str) -> None:
    assert BOUNDS.action(given, entity) == label


@pytest.mark.parametrize(
    ("given", "label"),
    [("civi", "civi"), ("espo", "espo"), ("https://crm.example.org", "other"), (None, "none")],
)
def test_upstream_label_comes_from_config_only(given: str | None, label: str) -> None:
    assert BOUNDS.upstream(given) == label


@pytest.mark.parametrize(
    ("status", "label"),
    [
        (100, "1xx"),
        (200, "2xx"),
        (204, "2xx"),
        (302, "3xx"),
        (404, "4xx"),
        (429, "4xx"),
        (503, "5xx"),
        (599, "5xx"),
        (600, "other"),
        (99, "other"),
        (0, "other"),
        (None, "other"),
        (True, "other"),
    ],
)
def test_status_class(status: int | None, label: str) -> None:
    assert lb.status_class(status) == label


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        ("token-expired", "token-expired"),
        ("missing-token", "missing-token"),
        ("unknown-key", "unknown-key"),
        ("something the attacker typed", "other"),
        ("", "other"),
    ],
)
def test_auth_reason_from_fixed_set(reason: str, label: str) -> None:
    assert lb.one_of(reason, lb.AUTH_REASONS) == label


@pytest.mark.parametrize(
    ("index", "label"), [(0, "0"), (7, "7"), (-1, "other"), (None, "other"), (10_000, "other")]
)
def test_index_label(index: int | None, label: str) -> None:
    assert lb.index_label(index) == label


def test_admitted_values_cap_cardinality_and_refuse_odd_values() -> None:
    admit = AdmittedValues(["global"], limit=2)
    assert admit("global") == "global"
    assert admit("a") == "a"
    assert admit("b") == "b"
    assert admit("c") == "other"  # the cap is reached
    assert admit("a") == "a"  # admitted values stay themselves
    assert AdmittedValues(limit=5)("has space") == "other"
    assert AdmittedValues(limit=5)("x" * 129) == "other"
    assert AdmittedValues(limit=5)(None) == "none"


def test_record_ids_and_paths_never_reach_the_exposition() -> None:
    metrics = GatewayMetrics(upstreams=["espo"])
    record_id = "6634a1f2b3c4d5e6f"
    metrics.observe_request("espo", record_id, "read", "allow", 200, 0.01)
    metrics.observe_request("espo", "Account", record_id, "allow", 200, 0.01)
    metrics.observe_request("https://espo.internal/api/v1", "Account", "read", "allow", 200, 0.01)
    metrics.policy_denial("espo", f"Account/{record_id}/contacts", "read")
    metrics.observe_request("espo", "<opaque>", f"/Attachment/file/{record_id}", "deny", 403, 0.01)
    body = metrics.render()[0]
    assert record_id.encode() not in body
    assert b"espo.internal" not in body
    assert b'entity="other"' in body and b'action="other"' in body and b'upstream="other"' in body
