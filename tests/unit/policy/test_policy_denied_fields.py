"""PolicySet.denied_fields: what the answer filter removes for one principal and request."""

from __future__ import annotations

import pytest

from gateway.dialects.base import OPAQUE, Operation
from tests.unit.policy.test_policy_semantics import policies, who

BASE = """
policy: base
subjects: {roles: [sync]}
upstreams: [civi, espo]
entities: {"*": {default: allow}}
fields:
  Email: {deny: [on_hold]}
"""
LIFT = """
policy: lift
subjects: {roles: [keys]}
upstreams: [civi]
entities: {Contact: {get: allow}}
fields:
  Contact: {allow: [api_key]}
"""
ESPO = """
policy: espo
subjects: {roles: [sync]}
upstreams: [espo]
entities: {"*": {default: allow}}
fields:
  Lead: {deny: [assignedUser]}
"""


@pytest.mark.parametrize(
    ("roles", "upstream", "ops", "denied"),
    [
        (("sync",), "civi", [Operation("Contact", "get")], {"api_key"}),
        (("sync",), "civi", [Operation("Email", "get")], {"api_key", "on_hold"}),
        (("sync", "keys"), "civi", [Operation("Contact", "get")], set()),
        (
            ("sync", "keys"),
            "civi",
            [Operation("Contact", "get"), Operation("Email", "get", "join:Email")],
            {"api_key", "on_hold"},
        ),
        (("sync",), "civi", [Operation(OPAQUE, "GET /x")], {"api_key", "on_hold"}),
        (("sync",), "espo", [Operation("Lead", "read")], {"assigneduser"}),
        (("sync",), "espo", [Operation("Account", "read")], set()),
        (("nobody",), "civi", [Operation("Contact", "get")], {"api_key"}),
    ],
)
def test_denied_fields(roles: tuple[str, ...], upstream: str, ops: list[Operation], denied: set[str]) -> None:
    ps = policies(BASE, LIFT, ESPO)
    assert ps.denied_fields(who(roles=roles), upstream, ops) == frozenset(denied)
