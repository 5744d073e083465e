"""What the decision endpoint remembers between requests (peer trust per config, header names found
acceptable, encoded queries) answers exactly as computing it afresh would, and forgets with a reload."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlencode

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.config.decision_model import DecisionConfig
from gateway.decision import answer, contract
from gateway.decision.answer import forward_target, upstream_settings
from gateway.decision.endpoint import _PeerTrust
from gateway.decision.forwarded import refuse_reserved_headers
from gateway.errors import BadRequest, GatewayError
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


def _every_name(out: OutboundRequest, client: CIMultiDict[str]) -> dict[str, str] | str:
    """upstream_settings without its shortcut: every name of both sides compared (or the refusal)."""
    settings: dict[str, str] = {}
    for low in {name.lower() for name in (*out.headers.keys(), *client.keys())}:
        values, before = out.headers.getall(low, []), client.getall(low, [])
        if low in contract.FRONT_SETS or values == before:
            continue
        name = answer._CANONICAL.get(low)
        if name is None or len(values) != 1:
            return "refused"
        settings[contract.set_header(name)] = values[0]
    return settings


CLIENT = [("Accept", "*/*"), ("X-Requested-With", "fetch"), ("User-Agent", "x")]
SENT = {
    "appended": [*CLIENT, ("X-Forwarded-For", "1"), ("X-Request-ID", "r"), ("X-Api-Key", "k")],
    "replaced in place": [("Accept", "*/*"), ("X-Requested-With", "XMLHttpRequest"), ("User-Agent", "x")],
    "a client header repeated": [*CLIENT, ("Accept", "text/html")],
    "a client header removed": [("Accept", "*/*"), ("User-Agent", "x"), ("X-Request-ID", "r")],
    "reordered": [("User-Agent", "x"), ("Accept", "*/*"), ("X-Requested-With", "fetch")],
    "a credential twice": [*CLIENT, ("X-Api-Key", "k"), ("x-api-key", "k2")],
    "unsupported change": [*CLIENT, ("Cookie", "a=b")],
    "nothing": [],
}


@pytest.mark.parametrize("case", SENT)
def test_settings_compare_only_what_the_gateway_added_and_answer_the_same(case: str) -> None:
    client = CIMultiDict(CLIENT)
    out = OutboundRequest("GET", "/api/v1/Lead", [], CIMultiDict(SENT[case]))
    try:
        found: dict[str, str] | str = upstream_settings(out, client)
    except GatewayError as refusal:
        assert refusal.reason == "decision-unsupported"
        found = "refused"
    assert found == _every_name(out, client)
