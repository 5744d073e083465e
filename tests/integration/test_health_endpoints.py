"""/healthz, /readyz and /metrics: tokenless, cheap, never logged per call; readiness that follows the
JWKS keys and, in on_error=deny mode, Redis; and the optional admin port."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.server import run_server
from tests.support.jwt_factory import JwksServer, make_key
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer, redis_server, redis_server_binary
from tests.support.stack import Stack, start_stack

__all__ = ["redis_server"]  # the fixture, imported for pytest

LEAD = "/espo-key/api/v1/Lead"
needs_redis = pytest.mark.skipif(redis_server_binary() is None, reason="redis-server not installed")


async def readiness(stack: Stack) -> tuple[int, dict[str, Any]]:
    resp = await stack.client.get("/readyz")
    return resp.status, await resp.json()


async def wait_for_readiness(stack: Stack, status: int, within: float = 2.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        got, body = await readiness(stack)
        if got == status or time.monotonic() > deadline:
            assert got == status, body
            return body
        await asyncio.sleep(0.02)


async def test_health_and_metrics_need_no_token_and_are_not_logged(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = await start_stack(aiohttp_server, aiohttp_client, tmp_path)
    capsys.readouterr()
    for _ in range(5):
        healthz = await stack.client.get("/healthz")
        assert (healthz.status, await healthz.json()) == (200, {"status": "ok"})
        assert (await readiness(stack)) == (
            200,
            {"status": "ready", "checks": {"config": True, "jwks": True}},
        )
        metrics = await stack.client.get("/metrics")
        assert metrics.status == 200 and "crmgw_build_info" in await metrics.text()
    assert capsys.readouterr().out == ""
    assert stack.metric("crmgw_request_duration_seconds_count", upstream="none", status_class="2xx") == 0
    # a proxied request is logged: the capture above works
    assert (await stack.client.get(LEAD, headers=stack.bearer())).status == 200
    assert capsys.readouterr().out.count('"request_id"') == 1


async def test_readyz_is_503_until_the_jwks_issuer_has_keys(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    idp = JwksServer(make_key("ES256"))  # the key start_stack signs with
    idp.status = 503
    idp_server = await aiohttp_server(idp.app())
    stack = await start_stack(
        aiohttp_server,
        aiohttp_client,
        tmp_path,
        issuer_keys=f"      jwks_url: {idp_server.make_url('/jwks')}\n"
        "      jwks_refetch_cooldown_seconds: 0.1",
    )
    status, body = await readiness(stack)
    assert (status, body["checks"]["jwks"]) == (503, False)
    assert (await stack.client.get("/healthz")).status == 200  # alive, just not ready
    refused = await stack.client.get(LEAD, headers=stack.bearer())
    assert refused.status == 401
    idp.status = 200
    body = await wait_for_readiness(stack, 200)
    assert body == {"status": "ready", "checks": {"config": True, "jwks": True}}
    assert (await stack.client.get(LEAD, headers=stack.bearer())).status == 200


@needs_redis
@pytest.mark.parametrize("on_error", ["deny", "allow", "local"])
async def test_readyz_follows_redis_only_when_it_is_required(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, redis_server: RedisServer, on_error: str
) -> None:
    stack = await start_stack(
        aiohttp_server,
        aiohttp_client,
        tmp_path,
        ratelimit=f"ratelimit: {{backend: redis, url: '{redis_server.url}', on_error: {on_error}, "
        "timeout_ms: 100, limits: [{rate: 100/minute}]}",
    )
    required = on_error == "deny"
    # the first ping opens the connection within the 100 ms budget: on a loaded machine it can miss,
    # and the probe then rightly says not-ready; what matters is that it becomes ready
    body = await wait_for_readiness(stack, 200)
    assert ("redis" in body["checks"]) is required
    redis_server.pause()  # hung, not refused: the probe must still answer promptly
    try:
        started = time.monotonic()
        status, body = await readiness(stack)
        assert time.monotonic() - started < 0.5
        assert status == (503 if required else 200)
        if required:
            assert body == {"status": "not-ready", "checks": {"config": True, "jwks": True, "redis": False}}
    finally:
        redis_server.resume()
    redis_server.stop()
    assert (await readiness(stack))[0] == (503 if required else 200)
    assert (await stack.client.get("/healthz")).status == 200
    redis_server.start()
    await wait_for_readiness(stack, 200)


async def test_admin_port_serves_health_and_metrics_and_the_main_port_does_not(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    admin_port, main_port = free_port(), free_port()
    stack = await start_stack(
        aiohttp_server,
        aiohttp_client,
        tmp_path,
        extra=f"observability: {{admin: {{host: 127.0.0.1, port: {admin_port}}}}}",
    )
    stop, started = asyncio.Event(), asyncio.Event()
    server = asyncio.ensure_future(
        run_server(
            stack.config, None, host="127.0.0.1", port=main_port, grace=1.0, stop=stop, started=started
        )
    )
    try:
        await asyncio.wait_for(started.wait(), 5)
        main, admin = f"http://127.0.0.1:{main_port}", f"http://127.0.0.1:{admin_port}"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:

            async def status(url: str, **kwargs: Any) -> int:
                async with http.get(url, **kwargs) as resp:
                    await resp.read()
                    return resp.status

            assert await status(f"{admin}/healthz") == 200
            assert await status(f"{admin}/readyz") == 200
            async with http.get(f"{admin}/metrics") as resp:
                assert resp.status == 200 and "crmgw_build_info" in await resp.text()
            assert await status(f"{admin}{LEAD}", headers=stack.bearer()) == 404
            for path in ("/healthz", "/readyz", "/metrics"):
                assert await status(f"{main}{path}") == 404, path
            assert await status(f"{main}{LEAD}", headers=stack.bearer()) == 200
            async with http.get(f"{admin}/metrics") as resp:  # the admin port reports the main port's traffic
                text = await resp.text()
            assert 'crmgw_requests_total{action="read",decision="allow",entity="Lead"' in text
    finally:
        stop.set()
        await asyncio.wait_for(server, 10)
