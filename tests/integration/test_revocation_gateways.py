"""Revocation over real sockets: two gateways sharing one real redis-server, the CLI writing to it, the
sandbox IdP's opaque tokens, and Redis going away in both on_error modes."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.support.idp import issuer_lines, start_idp
from tests.support.jwt_factory import claims, make_key, sign
from tests.support.redis_server import RedisServer, redis_server, redis_server_binary
from tests.support.stack import ENV, Stack, start_stack

__all__ = ["redis_server"]  # the fixture, imported for pytest

pytestmark = pytest.mark.skipif(redis_server_binary() is None, reason="redis-server not installed")
LEADS = "/espo-key/api/v1/Lead"


async def gateway(
    aiohttp_server: Any,
    aiohttp_client: Any,
    root: Path,
    url: str,
    on_error: str = "deny",
    issuer_keys: str = "",
) -> Stack:
    """A gateway whose limiter and revocation list share the Redis at ``url``."""
    root.mkdir(exist_ok=True)
    return await start_stack(
        aiohttp_server,
        aiohttp_client,
        root,
        ratelimit=f"ratelimit: {{backend: redis, url: '{url}', timeout_ms: 500, limits: []}}",
        extra=f"revocation: {{backend: redis, on_error: {on_error}, timeout_ms: 200}}",
        issuer_keys=issuer_keys,
    )


async def cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **ENV},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_a_revocation_through_one_gateways_redis_refuses_at_the_other_within_a_second(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, redis_server: RedisServer
) -> None:
    one = await gateway(aiohttp_server, aiohttp_client, tmp_path / "one", redis_server.url)
    two = await gateway(aiohttp_server, aiohttp_client, tmp_path / "two", redis_server.url)
    token = one.token()  # both gateways trust the same test key
    for stack in (one, two):
        assert (await stack.client.get(LEADS, headers={"X-Api-Key": token})).status == 200
    code, out, err = await cli(
        "revoke", "--config", str(tmp_path / "one" / "gateway.yaml"), "--sub", "svc-test"
    )
    assert code == 0, err
    assert out.startswith("revoked sub svc-test until ")
    revoked_at = time.monotonic()
    while True:
        resp = await two.client.get(LEADS, headers={"X-Api-Key": token})
        if resp.status == 401:
            break
        assert time.monotonic() - revoked_at < 1.0, "the other gateway still accepts the revoked token"
        await asyncio.sleep(0.05)
    body = await resp.json()
    assert body["reason"] == "token-revoked" and resp.headers["X-Status-Reason"] == "token has been revoked"
    assert (await one.client.get(LEADS, headers={"X-Api-Key": token})).status == 401
    assert two.metric("crmgw_revocation_refusals_total", reason="sub") == 1
    assert two.metric("crmgw_auth_failures_total", reason="token-revoked") == 1
    other = one.token(sub="svc-other")
    assert (await one.client.get(LEADS, headers={"X-Api-Key": other})).status != 401  # another subject


async def test_revoke_by_jti_and_by_client_and_list_them(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, redis_server: RedisServer
) -> None:
    stack = await gateway(aiohttp_server, aiohttp_client, tmp_path, redis_server.url)
    config = str(tmp_path / "gateway.yaml")
    by_jti, kept = stack.token(jti="token-a"), stack.token(jti="token-b")
    by_client = stack.token(azp="reporting-app")
    assert (await cli("revoke", "--config", config, "--jti", "token-a"))[0] == 0
    assert (await cli("revoke", "--config", config, "--client", "reporting-app"))[0] == 0
    statuses = [
        (await stack.client.get(LEADS, headers={"X-Api-Key": t})).status for t in (by_jti, kept, by_client)
    ]
    assert statuses == [401, 200, 401]
    code, out, _ = await cli("revocations", "--config", config)
    assert code == 0
    lines = sorted(line.split("\t")[:2] for line in out.splitlines())
    assert lines == [["client", "reporting-app"], ["jti", "token-a"]]
    client = aioredis.from_url(redis_server.url)
    try:
        ttl_ms = await client.pttl("{crmgw-rv}:jti:token-a")
    finally:
        await client.aclose()
    lifetime = stack.config.auth.max_lifetime_seconds + stack.config.auth.leeway_seconds
    assert lifetime * 1000 - 60_000 < ttl_ms <= lifetime * 1000  # as long as the longest token lives
    assert (await cli("revoke", "--config", config, "--jti", "token-a", "--undo"))[0] == 0
    assert (await stack.client.get(LEADS, headers={"X-Api-Key": by_jti})).status == 200


async def test_an_opaque_token_is_revoked_by_its_client_id(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, redis_server: RedisServer
) -> None:
    idp = await start_idp(aiohttp_server)
    stack = await gateway(
        aiohttp_server,
        aiohttp_client,
        tmp_path,
        redis_server.url,
        issuer_keys=issuer_lines(idp, jwt_key=make_key("ES256")),
    )
    token = await idp.mint()
    assert (await stack.client.get(LEADS, headers={"X-Api-Key": token})).status == 200
    assert (await cli("revoke", "--config", str(tmp_path / "gateway.yaml"), "--client", "svc-minter"))[0] == 0
    resp = await stack.client.get(LEADS, headers={"X-Api-Key": token})  # the introspection answer is cached
    assert resp.status == 401 and (await resp.json())["reason"] == "token-revoked"


async def test_redis_down_with_deny_refuses_every_token_and_never_a_revoked_one_passes(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, redis_server: RedisServer
) -> None:
    stack = await gateway(aiohttp_server, aiohttp_client, tmp_path, redis_server.url)
    token = stack.token()
    assert (await cli("revoke", "--config", str(tmp_path / "gateway.yaml"), "--sub", "svc-test"))[0] == 0
    redis_server.pause()
    try:
        resp = await stack.client.get(LEADS, headers={"X-Api-Key": token})
        assert resp.status == 503 and (await resp.json())["reason"] == "revocation-unavailable"
        fresh = stack.token(sub="svc-other")
        assert (await stack.client.get(LEADS, headers={"X-Api-Key": fresh})).status == 503
        assert len(stack.espo_received) == 0
        ready = await stack.client.get("/readyz")
        assert ready.status == 503 and (await ready.json())["checks"]["revocation"] is False
    finally:
        redis_server.resume()
    assert (await stack.client.get(LEADS, headers={"X-Api-Key": token})).status == 401
    assert stack.metric("crmgw_revocation_refusals_total", reason="unavailable") == 2


async def test_redis_down_with_allow_accepts_but_says_so(
    aiohttp_server: Any,
    aiohttp_client: Any,
    tmp_path: Path,
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stack = await gateway(aiohttp_server, aiohttp_client, tmp_path, redis_server.url, on_error="allow")
    token = sign(make_key("ES256"), claims(sub="svc-test"))
    redis_server.stop()
    with caplog.at_level(logging.WARNING, logger="gateway.revocation"):
        resp = await stack.client.get(LEADS, headers={"X-Api-Key": token})
    assert resp.status == 200
    assert any("token accepted unchecked" in r.getMessage() for r in caplog.records)
    assert all(token not in r.getMessage() and redis_server.url not in r.getMessage() for r in caplog.records)


async def test_the_cli_refuses_a_memory_backend(
    tmp_path: Path, aiohttp_server: Any, aiohttp_client: Any
) -> None:
    await start_stack(aiohttp_server, aiohttp_client, tmp_path)
    code, _, err = await cli("revoke", "--config", str(tmp_path / "gateway.yaml"), "--sub", "x")
    assert code == 2 and "revocation.backend is memory" in err
