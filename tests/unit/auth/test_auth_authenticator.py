from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.auth.authenticator import Authenticator
from gateway.auth.settings import StaticKey
from gateway.errors import AuthenticationError, ConfigError
from gateway.revocation.checker import RevocationChecker
from gateway.revocation.store import MemoryStore
from gateway.secrets import Secret
from tests.support.jwt_factory import (
    ISSUER,
    FakeClock,
    JwksServer,
    auth_settings,
    claims,
    issuer_settings,
    make_key,
    sign,
    sign_hmac,
)

RSA, EC, OTHER = make_key("RS256"), make_key("ES256"), make_key("RS256", 3)
SECRET_A, SECRET_B = "first-shared-secret-32-bytes-long", "second-shared-secret-32-bytes-lng"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_700_000_000)


@pytest.fixture
async def closing() -> AsyncIterator[list[Authenticator]]:
    made: list[Authenticator] = []
    yield made
    for auth in made:
        await auth.close()


def _static(clock: FakeClock, **overrides: Any) -> Authenticator:
    keys = (StaticKey(None, RSA.public_pem), StaticKey(None, json.dumps(EC.jwk)))
    issuer = issuer_settings(static_keys=keys)
    return Authenticator(auth_settings(issuer, **overrides), clock=clock)


async def test_static_keys_work_without_network(clock: FakeClock) -> None:
    auth = _static(clock, roles_claims=("realm_access.roles",))
    await auth.start()
    assert auth.ready() and auth.key_age_seconds() == {}
    token = sign(EC, claims(now=clock.now, sub="svc", scope="a b", realm_access={"roles": ["admin"]}))
    principal = await auth.authenticate(token)
    assert principal.subject == "svc" and principal.issuer == ISSUER
    assert principal.roles == {"admin"} and principal.scopes == {"a", "b"}
    assert principal.expires_at == clock.now + 300
    await auth.close()


async def test_repeated_token_costs_no_signature_check_until_exp(clock: FakeClock) -> None:
    auth = _static(clock)
    token = sign(RSA, claims(now=clock.now, lifetime=60))
    first = await auth.authenticate(token)
    for _ in range(20):
        assert await auth.authenticate(token) is first
    assert auth.signature_checks == 1
    clock.advance(60)
    assert (await auth.authenticate(token)).subject == first.subject
    assert auth.signature_checks == 2
    clock.advance(30)
    with pytest.raises(AuthenticationError) as caught:
        await auth.authenticate(token)
    assert caught.value.reason == "token-expired"


async def test_a_cached_token_is_checked_against_the_revocation_list_each_time(clock: FakeClock) -> None:
    store = MemoryStore(clock)
    auth = Authenticator(
        auth_settings(issuer_settings(static_keys=(StaticKey(None, RSA.public_pem),))),
        clock=clock,
        revocations=RevocationChecker(store),
    )
    token = sign(RSA, claims(now=clock.now - 5, lifetime=60, sub="svc", jti="j1"))
    first = await auth.authenticate(token)
    assert await auth.authenticate(token) is first  # cached, nothing revoked
    await store.add("jti", "j1", clock.now, 3600)
    with pytest.raises(AuthenticationError) as caught:
        await auth.authenticate(token)
    assert caught.value.reason == "token-revoked"
    assert await store.remove("jti", "j1")
    assert await auth.authenticate(token) is first and auth.signature_checks == 1


async def test_failures_are_not_cached(clock: FakeClock) -> None:
    auth = _static(clock)
    token = sign(OTHER, claims(now=clock.now), kid=None)
    for expected_checks in (1, 2):
        with pytest.raises(AuthenticationError):
            await auth.authenticate(token)
        assert auth.signature_checks == expected_checks


async def test_hmac_secrets_rotate(clock: FakeClock) -> None:
    issuer = issuer_settings(algorithms=("HS256",), hs256_secrets=(Secret(SECRET_A), Secret(SECRET_B)))
    auth = Authenticator(auth_settings(issuer), clock=clock)
    assert auth.ready()
    assert (await auth.authenticate(sign_hmac(SECRET_B, claims(now=clock.now, sub="b")))).subject == "b"
    assert auth.signature_checks == 2
    with pytest.raises(AuthenticationError) as caught:
        await auth.authenticate(sign_hmac("x" * 40, claims(now=clock.now)))
    assert caught.value.reason == "bad-signature"
    with pytest.raises(AuthenticationError) as caught:
        await auth.authenticate(sign_hmac(SECRET_A, claims(now=clock.now), algorithm="HS512"))
    assert caught.value.reason == "unsupported-algorithm"


async def test_a_key_of_one_issuer_does_not_verify_another(clock: FakeClock) -> None:
    other_iss = "https://other.test"
    auth = Authenticator(
        auth_settings(
            issuer_settings(static_keys=(StaticKey(RSA.kid, RSA.public_pem),)),
            issuer_settings(issuer=other_iss, static_keys=(StaticKey(OTHER.kid, OTHER.public_pem),)),
        ),
        clock=clock,
    )
    assert (await auth.authenticate(sign(OTHER, claims(now=clock.now, iss=other_iss)))).issuer == other_iss
    for kid, reason in ((OTHER.kid, "unknown-key"), (RSA.kid, "bad-signature")):
        with pytest.raises(AuthenticationError) as caught:
            await auth.authenticate(sign(OTHER, claims(now=clock.now), kid=kid))
        assert caught.value.reason == reason


def test_invalid_settings_are_refused_at_construction() -> None:
    with pytest.raises(ConfigError):
        Authenticator(auth_settings(issuer_settings(algorithms=("none",), jwks_url="https://idp/jwks")))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_idp_does_not_stop_start(clock: FakeClock, closing: list[Authenticator]) -> None:
    outcomes: list[tuple[str, str]] = []
    url = f"http://127.0.0.1:{_closed_port()}/jwks"
    auth = Authenticator(
        auth_settings(issuer_settings(jwks_url=url, jwks_timeout_seconds=2)),
        clock=clock,
        on_jwks_fetch=lambda issuer, outcome: outcomes.append((issuer, outcome)),
    )
    closing.append(auth)
    await auth.start()
    assert outcomes == [(ISSUER, "error")]
    assert not auth.ready()
    assert auth.key_age_seconds() == {ISSUER: float("inf")}


async def test_stale_keys_refresh_in_background(
    clock: FakeClock, aiohttp_server: Any, closing: list[Authenticator]
) -> None:
    idp = JwksServer(RSA)
    url = str((await aiohttp_server(idp.app())).make_url("/jwks"))
    fetched = asyncio.Event()
    outcomes: list[str] = []

    def record(issuer: str, outcome: str) -> None:
        outcomes.append(outcome)
        fetched.set()

    auth = Authenticator(
        auth_settings(issuer_settings(jwks_url=url, jwks_ttl_seconds=60)), clock=clock, on_jwks_fetch=record
    )
    closing.append(auth)
    await auth.start()
    fetched.clear()
    clock.advance(59)
    assert auth.key_age_seconds() == {ISSUER: 59}
    await auth.authenticate(sign(RSA, claims(now=clock.now, sub="a")))
    assert idp.hits == 1
    clock.advance(1)
    await auth.authenticate(sign(RSA, claims(now=clock.now, sub="b")))
    await asyncio.wait_for(fetched.wait(), 2)
    assert idp.hits == 2 and outcomes == ["ok", "ok"]
    assert auth.key_age_seconds() == {ISSUER: 0}


@pytest.mark.parametrize(
    ("status", "body", "headers"),
    [
        (302, "", {"Location": "/good"}),
        (200, "not json", {}),
        (200, json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}), {}),
        (200, json.dumps({"keys": "nope"}), {}),
        (200, json.dumps({"keys": [RSA.jwk], "pad": "x" * 600_000}), {}),
    ],
)
async def test_bad_jwks_answers_are_errors(
    clock: FakeClock,
    aiohttp_server: Any,
    closing: list[Authenticator],
    status: int,
    body: str,
    headers: dict[str, str],
) -> None:
    async def bad(request: web.Request) -> web.Response:
        return web.Response(status=status, text=body, headers=headers)

    async def good(request: web.Request) -> web.Response:
        return web.json_response({"keys": [RSA.jwk]})

    app = web.Application()
    app.router.add_get("/jwks", bad)
    app.router.add_get("/good", good)
    url = str((await aiohttp_server(app)).make_url("/jwks"))
    outcomes: list[str] = []
    auth = Authenticator(
        auth_settings(issuer_settings(jwks_url=url)),
        clock=clock,
        on_jwks_fetch=lambda issuer, outcome: outcomes.append(outcome),
    )
    closing.append(auth)
    await auth.start()
    assert outcomes == ["error"] and not auth.ready()


async def test_a_given_session_is_used_and_left_open(clock: FakeClock, aiohttp_server: Any) -> None:
    idp = JwksServer(RSA)
    url = str((await aiohttp_server(idp.app())).make_url("/jwks"))
    async with aiohttp.ClientSession() as session:
        auth = Authenticator(auth_settings(issuer_settings(jwks_url=url)), session=session, clock=clock)
        await auth.start()
        assert auth.ready() and idp.hits == 1
        await auth.close()
        assert not session.closed


async def test_background_loop_recovers_without_traffic(
    aiohttp_server: Any, closing: list[Authenticator]
) -> None:
    idp = JwksServer(RSA)
    idp.status = 503
    url = str((await aiohttp_server(idp.app())).make_url("/jwks"))
    auth = Authenticator(auth_settings(issuer_settings(jwks_url=url, jwks_refetch_cooldown_seconds=0.2)))
    closing.append(auth)
    await auth.start()
    assert not auth.ready()
    idp.status = 200
    for _ in range(100):
        if auth.ready():
            break
        await asyncio.sleep(0.02)
    assert auth.ready() and idp.hits >= 2
