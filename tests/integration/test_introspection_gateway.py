"""Opaque access tokens through RFC 7662 introspection at the sandbox IdP, over real sockets.

Each client authentication method, the checks a JWT's claims get, the cache and its coalescing as seen
by the IdP, the IdP down (deny and cached modes), and the token kept out of every log line.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.support.idp import Idp, issuer_lines, start_idp
from tests.support.jwt_factory import ISSUER, make_key
from tests.support.stack import Stack, start_stack

LEADS = "/espo-key/api/v1/Lead"


async def stack_with_idp(
    aiohttp_server: Any,
    aiohttp_client: Any,
    tmp_path: Path,
    idp: Idp,
    method: str = "client_secret_basic",
    **extra: Any,
) -> Stack:
    return await start_stack(
        aiohttp_server,
        aiohttp_client,
        tmp_path,
        issuer_keys=issuer_lines(idp, method, jwt_key=make_key("ES256"), **extra),
    )


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post", "private_key_jwt"])
async def test_an_opaque_token_is_accepted_with_each_client_authentication(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, method: str
) -> None:
    idp = await start_idp(aiohttp_server)
    stack = await stack_with_idp(aiohttp_server, aiohttp_client, tmp_path, idp, method)
    token = await idp.mint("svc-test")
    assert 40 <= len(token) <= 100 and token.count(".") != 2
    resp = await stack.client.get(LEADS, headers={"X-Api-Key": token})
    assert resp.status == 200, await resp.text()
    assert idp.introspections == 1
    assert stack.espo_received[-1].headers["X-Api-Key"] != token  # the CRM gets its own credential


async def test_jwts_of_the_same_issuer_are_still_verified_locally(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    idp = await start_idp(aiohttp_server)
    stack = await stack_with_idp(aiohttp_server, aiohttp_client, tmp_path, idp)
    resp = await stack.client.get(LEADS, headers=stack.bearer())
    assert resp.status == 200
    assert idp.introspections == 0


@pytest.mark.parametrize(
    ("mint", "reason"),
    [
        ({}, None),
        ({"audience": "another-service"}, "wrong-audience"),
        ({"lifetime": "60"}, None),
    ],
)
async def test_introspected_claims_are_checked_like_a_jwts(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, mint: dict[str, str], reason: str | None
) -> None:
    idp = await start_idp(aiohttp_server)
    stack = await stack_with_idp(aiohttp_server, aiohttp_client, tmp_path, idp)
    resp = await stack.client.get(LEADS, headers={"Authorization": f"Bearer {await idp.mint(**mint)}"})
    if reason is None:
        assert resp.status == 200
    else:
        assert resp.status == 401 and (await resp.json())["reason"] == reason


async def test_an_idp_of_another_issuer_name_is_refused(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    idp = await start_idp(aiohttp_server, issuer=ISSUER + "/other")
    stack = await stack_with_idp(aiohttp_server, aiohttp_client, tmp_path, idp)
    resp = await stack.client.get(LEADS, headers={"X-Api-Key": await idp.mint()})
    assert resp.status == 401 and (await resp.json())["reason"] == "wrong-issuer"


async def test_unknown_and_idp_revoked_tokens_are_refused(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    idp = await start_idp(aiohttp_server)
    stack = await stack_with_idp(aiohttp_server, aiohttp_client, tmp_path, idp, cache_ttl_seconds=0.2)
    resp = await stack.client.get(LEADS, headers={"X-Api-Key": "x" * 64})
    assert resp.status == 401 and (await resp.json())["reason"] == "inactive-token"
    assert resp.headers["X-Status-Reason"] == "token is not active"
    token = await idp.mint()
    assert (await stack.client.get(LEADS, headers={"X-Api-Key": token})).status == 200
    idp.forget(token)
    await asyncio.sleep(0.3)  # past cache_ttl_seconds: asked again
    resp = await stack.client.get(LEADS, headers={"X-Api-Key": token})
    assert resp.status == 401 and (await resp.json())["reason"] == "inactive-token"
    assert stack.metric("crmgw_auth_failures_total", reason="inactive-token") == 2


async def test_concurrent_requests_with_one_new_token_make_one_introspection(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    idp = await start_idp(aiohttp_server)
    stack = await stack_with_idp(aiohttp_server, aiohttp_client, tmp_path, idp)
    token = await idp.mint()
    idp.set_delay(0.3)
    responses = await asyncio.gather(
        *(stack.client.get(LEADS, headers={"X-Api-Key": token}) for _ in range(20))
    )
    assert [r.status for r in responses] == [200] * 20
    assert idp.introspections == 1
    assert stack.metric("crmgw_introspections_total", issuer_index="0", outcome="active") == 1


async def test_idp_down_denies_by_default(aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path) -> None:
    idp = await start_idp(aiohttp_server)
    stack = await stack_with_idp(aiohttp_server, aiohttp_client, tmp_path, idp)
    token = await idp.mint()
    idp.set_status(503)
    resp = await stack.client.get(LEADS, headers={"X-Api-Key": token})
    assert resp.status == 503 and (await resp.json())["reason"] == "idp-unavailable"
    assert resp.headers["Retry-After"] == "5" and resp.headers["X-Status-Reason"]
    assert len(stack.espo_received) == 0


async def test_wrong_gateway_credentials_at_the_idp_deny(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    idp = await start_idp(aiohttp_server)
    stack = await stack_with_idp(
        aiohttp_server, aiohttp_client, tmp_path, idp, client_secret="not-the-gateway-secret-0123"
    )
    resp = await stack.client.get(LEADS, headers={"X-Api-Key": await idp.mint()})
    assert resp.status == 503 and (await resp.json())["reason"] == "idp-unavailable"
    assert idp.introspections == 0  # the IdP refused the client before looking at the token


async def test_idp_down_in_cached_mode_keeps_only_tokens_seen_active(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    idp = await start_idp(aiohttp_server)
    stack = await stack_with_idp(
        aiohttp_server, aiohttp_client, tmp_path, idp, on_error="cached", cache_ttl_seconds=0.2
    )
    seen, unseen = await idp.mint(), await idp.mint()
    assert (await stack.client.get(LEADS, headers={"X-Api-Key": seen})).status == 200
    idp.set_status(503)
    await asyncio.sleep(0.3)  # the answer is stale now: the IdP is asked, fails, the stale answer holds
    assert (await stack.client.get(LEADS, headers={"X-Api-Key": seen})).status == 200
    resp = await stack.client.get(LEADS, headers={"X-Api-Key": unseen})
    assert resp.status == 503
    assert idp.introspections == 1


async def test_the_token_is_in_no_log_line(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    idp = await start_idp(aiohttp_server)
    stack = await stack_with_idp(aiohttp_server, aiohttp_client, tmp_path, idp)
    token = await idp.mint()
    await stack.client.get(LEADS, headers={"X-Api-Key": token})
    idp.set_status(500)
    other = await idp.mint()
    await stack.client.get(LEADS, headers={"X-Api-Key": other})
    captured = capsys.readouterr()
    logged = caplog.text + captured.out + captured.err
    assert "introspection at" in logged  # the failure was logged...
    assert token not in logged and other not in logged  # ...without the token


async def test_a_flood_of_made_up_tokens_reaches_the_idp_at_most_max_concurrent_lookups_at_once(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    idp = await start_idp(aiohttp_server)
    stack = await stack_with_idp(aiohttp_server, aiohttp_client, tmp_path, idp, max_concurrent_lookups=2)
    good = await idp.mint()
    assert (await stack.client.get(LEADS, headers={"X-Api-Key": good})).status == 200  # now cached
    idp.set_delay(2.0)  # the first two look-ups hold their places while the others arrive
    made_up = [f"made-up-token-{n:04d}-" + "x" * 40 for n in range(12)]
    with caplog.at_level(logging.WARNING, logger="gateway.auth.introspection"):
        responses = await asyncio.gather(
            *(stack.client.get(LEADS, headers={"X-Api-Key": token}) for token in made_up),
            stack.client.get(LEADS, headers={"X-Api-Key": good}),
        )
    *flood, cached = responses
    statuses = sorted(r.status for r in flood)
    assert statuses == [401] * 2 + [503] * 10  # two asked the IdP (inactive), the rest refused at once
    assert idp.introspections == 1 + 2
    assert cached.status == 200  # a cached token is untouched by the flood
    assert stack.metric("crmgw_introspections_total", issuer_index="0", outcome="busy") == 10
    warnings = [r for r in caplog.records if r.name == "gateway.auth.introspection"]
    assert 1 <= len(warnings) <= 5  # the log has a budget too
    assert not any(token in caplog.text for token in made_up)
    assert len(stack.espo_received) == 2  # only the two requests with the real token
