"""Sentinel URLs as the rate limiter and the revocation store read them."""

from __future__ import annotations

import pytest

from gateway.redisurl import parse_sentinel_url


@pytest.mark.parametrize(
    ("url", "nodes", "service", "db", "username", "password", "ssl"),
    [
        ("redis+sentinel://s1/gw", [("s1", 26379)], "gw", 0, None, None, False),
        ("redis+sentinel://s1:5000,s2:5001/gw/3", [("s1", 5000), ("s2", 5001)], "gw", 3, None, None, False),
        ("rediss+sentinel://:p%40ss@s1/gw", [("s1", 26379)], "gw", 0, None, "p@ss", True),
        (
            "redis+sentinel://app:pw@[::1]:26380,s2/my%20master",
            [("::1", 26380), ("s2", 26379)],
            "my master",
            0,
            "app",
            "pw",
            False,
        ),
    ],
)
def test_sentinel_url(
    url: str,
    nodes: list[tuple[str, int]],
    service: str,
    db: int,
    username: str | None,
    password: str | None,
    ssl: bool,
) -> None:
    spec = parse_sentinel_url(url)
    assert (spec.nodes, spec.service_name, spec.db, spec.username, spec.password, spec.ssl) == (
        nodes,
        service,
        db,
        username,
        password,
        ssl,
    )


def test_sentinel_password_query_parameter() -> None:
    assert parse_sentinel_url("redis+sentinel://s1/gw?sentinel_password=x").sentinel_password == "x"


def test_sentinel_spec_repr_hides_passwords() -> None:
    spec = parse_sentinel_url("redis+sentinel://u:topsecret@s1/gw?sentinel_password=alsosecret")
    assert "secret" not in repr(spec)


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://s1",
        "redis+sentinel:///gw",
        "redis+sentinel://s1:port/gw",
        "redis+sentinel://s1/gw/x",
    ],
)
def test_bad_sentinel_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="Sentinel"):
        parse_sentinel_url(url)
