from __future__ import annotations

import pytest

from gateway.ratelimit.redis import RedisLimiter, parse_sentinel_url


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


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://u:hunter2@h", "unsupported Redis URL scheme 'http'"),
        ("memcached://h:11211?password=hunter2", "unsupported Redis URL scheme 'memcached'"),
        ("u:hunter2@h:6379", "must start with a scheme"),
        ("hunter2 ://h", "must start with a scheme"),
    ],
)
def test_bad_url_is_refused_without_echoing_it(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        RedisLimiter(url)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("timeout_ms", [0, -5])
def test_timeout_must_be_positive(timeout_ms: int) -> None:
    with pytest.raises(ValueError, match="timeout_ms"):
        RedisLimiter("redis://localhost", timeout_ms=timeout_ms)


def test_constructing_does_not_connect() -> None:
    limiter = RedisLimiter("redis://user:pw@192.0.2.1:6379/0", timeout_ms=50)  # TEST-NET: nothing listens
    assert limiter.timeout_s == 0.05
