"""No configured secret and no client token ever shows up in what the gateway logs, over a run full of
limiter and breaker events (Redis with a password dying, an upstream refusing a key, 429s, bad tokens)."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

import pytest

from gateway.sandbox.espocrm import ESPO_AUTH
from tests.support.redis_server import RedisServer, redis_server_binary
from tests.support.stack import SECRETS, start_stack

pytestmark = pytest.mark.skipif(redis_server_binary() is None, reason="redis-server not installed")

REDIS_PASSWORD = "redis-pass-7f3a9c21e4"
BAD_ESPO_KEY = "badc0ffee0ddf00dbadc0ffee0ddf00d"
POLICY = """
policy: secrets-run
subjects: {principals: [svc-test, svc-bad]}
entities:
  "*": {default: allow}
limits:
  - {name: leads, entity: Lead, rate: 2/hour}
"""
BAD_IDENTITY = """
  - match: {sub: svc-bad}
    espo-key: {api_key: '${env:ESPO_BAD_KEY}'}
"""


class PasswordRedis(RedisServer):
    """A redis-server that wants a password (the helper's readiness PING must authenticate first)."""

    def __init__(self) -> None:
        super().__init__(extra_args=["--requirepass", REDIS_PASSWORD])

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(f"AUTH {REDIS_PASSWORD}\r\nPING\r\n".encode())
                reply = b""
                while b"PONG" not in reply and len(reply) < 64:
                    chunk = sock.recv(64)
                    if not chunk:
                        break
                    reply += chunk
                return b"+PONG" in reply
        except OSError:
            return False


REST = "/civi-keys/sites/all/modules/civicrm/extern/rest.php?entity=Contact&action=get&json=1"


async def test_no_secret_or_token_in_the_logs_of_an_eventful_run(
    aiohttp_server: Any,
    aiohttp_client: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    with PasswordRedis() as redis:
        redis_url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{redis.port}/0"
        stack = await start_stack(
            aiohttp_server,
            aiohttp_client,
            tmp_path,
            policies={"secrets-run": POLICY},
            ratelimit="ratelimit: {backend: redis, url: '${env:REDIS_URL}', on_error: local, "
            "timeout_ms: 1000, limits: [{rate: 1000/hour}]}",  # a slow answer under load must not fall back
            environ={"REDIS_URL": redis_url, "ESPO_BAD_KEY": BAD_ESPO_KEY},
            identities_extra=BAD_IDENTITY,
            upstream_extra={"espo-key": "breaker: {failures: 2, cooldown_seconds: 30}"},
        )
        client = stack.client
        tokens = [stack.token(), stack.token("svc-bad"), stack.token(exp=1_000_000, iat=999_000, nbf=999_000)]
        good, bad, expired = tokens
        lead, contact, account = (f"/espo-key/api/v1/{e}" for e in ("Lead", "Contact", "Account"))
        script: list[tuple[str, dict[str, str], int]] = [
            # 429s from the Redis limiter, with the token in several slots
            (lead, {"Authorization": f"Bearer {good}", "X-Api-Key": good}, 200),
            (lead, {"X-Api-Key": good}, 200),
            (lead, {"X-Api-Key": good, "X-Request-ID": good}, 429),
            (f"{REST}&api_key={good}", {}, 200),
            (REST, {"X-Civi-Auth": f"Bearer {expired}"}, 401),
            (REST, {"Authorization": "Bearer not-a-jwt-but-secret-ish-0123456789"}, 401),
            # EspoCRM refuses svc-bad's key until the breaker opens
            *[(contact, {"X-Api-Key": bad}, 401)] * 2,
            *[(contact, {"X-Api-Key": bad}, 503)] * 2,
        ]
        for path, headers, status in script:
            resp = await client.get(path, headers=headers)
            assert resp.status == status, (path, await resp.text())
        redis.stop()  # the limiter falls back to local limits, and says so
        for _ in range(3):
            assert (await client.get(account, headers={"X-Api-Key": good})).status == 200

    logged = caplog.text
    captured = capsys.readouterr()
    everything = "\n".join((logged, captured.out, captured.err))
    # the run did what it was meant to: these events are in the output
    assert "breaker open" in logged
    assert "rate limiter backend unavailable" in logged
    assert (
        '"status":429' in captured.out and '"status":503' in captured.out and '"status":401' in captured.out
    )
    assert stack.espo.app[ESPO_AUTH].failed_logins("127.0.0.1") == 2
    # ... and no secret of any kind
    for secret in (*SECRETS, REDIS_PASSWORD, BAD_ESPO_KEY, redis_url, *tokens, "secret-ish-0123456789"):
        assert secret not in everything, f"a secret leaked: {secret[:6]}..."
    for token in tokens:
        assert token.rsplit(".", 1)[1] not in everything  # not even a JWT's signature part
