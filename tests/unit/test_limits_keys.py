"""Limiter keys: scopes, and one hash slot for everything on Redis Cluster."""

from __future__ import annotations

from redis.crc import key_slot

from gateway.limits import _key
from gateway.policy.model import LimitRule
from gateway.principal import Principal


def _rule(per: str) -> LimitRule:
    return LimitRule(
        name=f"r-{per}", rate_per_second=1.0, burst=5, per=per, entity=None, action=None, policy="p"
    )


ALICE = Principal(subject="alice", issuer="https://idp")
BOB = Principal(subject="bob", issuer="https://idp")


def test_scopes_share_or_split_buckets() -> None:
    assert _key(_rule("principal"), ALICE, "civi", False) != _key(_rule("principal"), BOB, "civi", False)
    assert _key(_rule("upstream"), ALICE, "civi", False) == _key(_rule("upstream"), BOB, "civi", False)
    assert _key(_rule("upstream"), ALICE, "civi", False) != _key(_rule("upstream"), ALICE, "espo", False)
    assert _key(_rule("global"), ALICE, "civi", False) == _key(_rule("global"), BOB, "espo", False)


def test_cluster_keys_of_one_request_share_a_slot() -> None:
    keys = [_key(_rule(per), ALICE, "civi", True) for per in ("principal", "upstream", "global")]
    assert len({key_slot(k.encode()) for k in keys}) == 1
    assert len(set(keys)) == 3
