"""What the decision endpoint remembers between requests (peer trust per config, header names found
acceptable, encoded queries) answers exactly as computing it afresh would, and forgets with a reload."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlencode

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.config.decision_model import DecisionConfig
from gateway.decision.answer import forward_target
from gateway.decision.endpoint import _PeerTrust
from gateway.decision.forwarded import refuse_reserved_headers
from gateway.errors import BadRequest
from gateway.signers.base import OutboundRequest

PEERS = ["127.0.0.1", "10.0.0.7", "::ffff:127.0.0.1", "::1", "fe80::1%eth0", "", None, "not-an-ip"]


def config(*networks: str) -> DecisionConfig:
    return DecisionConfig(enabled=True, trusted_proxies=tuple(ipaddress.ip_network(n) for n in networks))


def test_peer_trust_answers_as_the_config_does_and_follows_a_reload() -> None:
    memo = _PeerTrust()
    first, reloaded = config("127.0.0.1/32"), config("10.0.0.0/8", "::1/128")
    for current in (first, reloaded, first):
        for _ in range(2):
            assert [memo.trusts(current, peer) for peer in PEERS] == [current.trusts(p) for p in PEERS]
    assert memo.trusts(first, "127.0.0.1") and not memo.trusts(reloaded, "127.0.0.1")


@pytest.mark.parametrize(
    ("header", "reason"),
    [("X-Crm-Set-Authorization", "reserved-header"), ("x-crm-upstream", "reserved-header")],
)
def test_a_reserved_header_is_refused_every_time_beside_accepted_ones(header: str, reason: str) -> None:
    plain = CIMultiDictProxy(CIMultiDict({"Accept": "application/json", "Authorization": "Bearer t"}))
    for _ in range(3):
        refuse_reserved_headers(plain)
        with pytest.raises(BadRequest) as refused:
            refuse_reserved_headers(CIMultiDictProxy(CIMultiDict({"Accept": "*/*", header: "1"})))
        assert refused.value.reason == reason


@pytest.mark.parametrize(
    "query",
    [
        [],
        [("maxSize", "5"), ("select", "name,emailAddress")],
        [("a", "b c"), ("a", "&="), ("ü", "€")],
        [(f"k{i}", str(i)) for i in range(40)],
        [("long", "x" * 5000)],
    ],
)
def test_the_forwarded_query_is_urlencode_of_the_pairs_every_time(query: list[tuple[str, str]]) -> None:
    for _ in range(3):
        out = OutboundRequest("GET", "/api/v1/Lead", list(query), CIMultiDict(), base_path="")
        assert forward_target(out) == ("/api/v1/Lead", urlencode(query) if query else "")
