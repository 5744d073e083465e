from __future__ import annotations

import pytest

from gateway.ratelimit.redis import RedisLimiter


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
