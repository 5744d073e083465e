"""JWT attack matrix: each forged or unfit token is refused with the right stable reason.

Drives Authenticator directly against a real JWKS endpoint (aiohttp test server) and an injected clock.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from gateway.auth.authenticator import Authenticator
from gateway.auth.settings import StaticKey
from gateway.dialects.credentials import TOKEN_SLOTS
from gateway.errors import AuthenticationError
from gateway.secrets import Secret
from gateway.wire.slots import extract_token
from tests.support.jwt_factory import (
    ISSUER,
    FakeClock,
    JwksServer,
    auth_settings,
    b64url,
    claims,
    forge,
    issuer_settings,
    make_key,
    sign,
    sign_hmac,
)

RSA, EC = make_key("RS256"), make_key("ES256")
ATTACKER, NEW = make_key("RS256", 7), make_key("RS256", 8)
COOLDOWN = 30.0
TTL = 300.0

MakeAuth = Callable[..., Awaitable[Authenticator]]


class Idp:
    def __init__(self, jwks: JwksServer, url: str, clock: FakeClock) -> None:
        self.jwks, self.url, self.clock = jwks, url, clock


@pytest.fixture
async def idp(aiohttp_server: Any) -> Idp:
    jwks = JwksServer(RSA, EC)
    server = await aiohttp_server(jwks.app())
    return Idp(jwks, str(server.make_url("/jwks")), FakeClock(1_700_000_000))


@pytest.fixture
async def make_auth(idp: Idp) -> AsyncIterator[MakeAuth]:
    created: list[Authenticator] = []

    async def build(*, issuer: dict[str, Any] | None = None, **overrides: Any) -> Authenticator:
        options = {"jwks_url": idp.url, "jwks_ttl_seconds": TTL, "jwks_refetch_cooldown_seconds": COOLDOWN}
        options.update(issuer or {})
        auth = Authenticator(auth_settings(issuer_settings(**options), **overrides), clock=idp.clock)
        created.append(auth)
        await auth.start()
        return auth

    yield build
    for auth in created:
        await auth.close()


async def _refused(auth: Authenticator, token: str, reason: str) -> AuthenticationError:
    with pytest.raises(AuthenticationError) as caught:
        await auth.authenticate(token)
    error = caught.value
    assert error.reason == reason, error.message
    assert error.status == 401
    if len(token) > 3:
        assert token not in error.message and token not in str(error.headers)
    return error


def _claims(idp: Idp, **overrides: Any) -> dict[str, Any]:
    return claims(now=idp.clock.now, **overrides)


async def test_a_good_token_is_accepted(idp: Idp, make_auth: MakeAuth) -> None:
    auth = await make_auth()
    for key in (RSA, EC):
        principal = await auth.authenticate(sign(key, _claims(idp, sub="svc-a", roles=["r"])))
        assert (principal.subject, principal.roles) == ("svc-a", frozenset({"r"}))


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_alg_none_is_refused(idp: Idp, make_auth: MakeAuth, alg: str) -> None:
    auth = await make_auth(issuer={"algorithms": ("RS256",)})
    await _refused(auth, forge({"alg": alg, "typ": "JWT"}, _claims(idp)), "unsupported-algorithm")
    await _refused(auth, forge({"alg": alg, "kid": RSA.kid}, _claims(idp), b"sig"), "unsupported-algorithm")


async def test_hs256_signed_with_the_rsa_public_key_is_refused(idp: Idp, make_auth: MakeAuth) -> None:
    auth = await make_auth()
    for secret in (RSA.public_pem, json.dumps(RSA.jwk)):
        forged = sign_hmac(secret, _claims(idp), headers={"kid": RSA.kid})
        await _refused(auth, forged, "unsupported-algorithm")


async def test_hs256_with_public_key_fails_even_where_hs256_is_allowed(idp: Idp, make_auth: MakeAuth) -> None:
    auth = await make_auth(
        issuer={
            "algorithms": ("RS256", "HS256"),
            "hs256_secrets": (Secret("a-real-shared-secret-of-32-bytes!"),),
            "static_keys": (StaticKey(RSA.kid, RSA.public_pem),),
        }
    )
    for secret in (RSA.public_pem, RSA.public_pem.strip(), json.dumps(RSA.jwk)):
        forged = sign_hmac(secret, _claims(idp), headers={"kid": RSA.kid})
        await _refused(auth, forged, "bad-signature")
    good = sign_hmac("a-real-shared-secret-of-32-bytes!", _claims(idp, sub="hs"))
    assert (await auth.authenticate(good)).subject == "hs"


async def test_algorithm_outside_the_issuer_allow_list(idp: Idp, make_auth: MakeAuth) -> None:
    auth = await make_auth(issuer={"algorithms": ("ES256",)})
    await _refused(auth, sign(RSA, _claims(idp)), "unsupported-algorithm")


async def test_rsa_kid_with_ec_algorithm_finds_no_key(idp: Idp, make_auth: MakeAuth) -> None:
    auth = await make_auth()
    token = sign(EC, _claims(idp), kid=RSA.kid)
    await _refused(auth, token, "unknown-key")


async def test_signature_by_another_key_under_a_known_kid(idp: Idp, make_auth: MakeAuth) -> None:
    auth = await make_auth()
    await _refused(auth, sign(ATTACKER, _claims(idp), kid=RSA.kid), "bad-signature")


async def test_tampered_payload(idp: Idp, make_auth: MakeAuth) -> None:
    auth = await make_auth()
    header, _, signature = sign(RSA, _claims(idp, sub="user")).split(".")
    tampered = f"{header}.{b64url(_claims(idp, sub='admin'))}.{signature}"
    await _refused(auth, tampered, "bad-signature")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        pytest.param({"exp": -31, "iat": -600, "nbf": -600}, "token-expired", id="expired"),
        pytest.param({"nbf": 120}, "token-not-yet-valid", id="nbf-in-future"),
        pytest.param({"iat": 120, "nbf": None}, "token-not-yet-valid", id="iat-in-future"),
        pytest.param({"iss": "https://evil.example/realms/crm"}, "wrong-issuer", id="wrong-iss"),
        pytest.param({"iss": None}, "missing-claim", id="no-iss"),
        pytest.param({"aud": "another-service"}, "wrong-audience", id="wrong-aud"),
        pytest.param({"iat": None}, "missing-claim", id="missing-iat"),
        pytest.param({"exp": None}, "missing-claim", id="missing-exp"),
        pytest.param({"sub": None}, "missing-claim", id="missing-sub"),
        pytest.param({"exp": 86400 * 3, "iat": 0}, "lifetime-too-long", id="lifetime-too-long"),
    ],
)
async def test_claims_attacks(idp: Idp, make_auth: MakeAuth, overrides: dict[str, Any], reason: str) -> None:
    auth = await make_auth()
    now = idp.clock.now
    times = ("exp", "iat", "nbf")
    shifted = {k: (now + v if k in times and v is not None else v) for k, v in overrides.items()}
    await _refused(auth, sign(RSA, _claims(idp, **shifted)), reason)


async def test_unknown_kid(idp: Idp, make_auth: MakeAuth) -> None:
    auth = await make_auth()
    idp.clock.advance(COOLDOWN)
    await _refused(auth, sign(ATTACKER, _claims(idp)), "unknown-key")
    assert idp.jwks.hits == 2


async def test_a_flood_of_unknown_kids_costs_one_fetch_per_cooldown(idp: Idp, make_auth: MakeAuth) -> None:
    outcomes: list[str] = []
    auth = await make_auth()
    auth_cb = Authenticator(
        auth_settings(issuer_settings(jwks_url=idp.url)),
        clock=idp.clock,
        on_jwks_fetch=lambda issuer, outcome: outcomes.append(outcome),
    )
    await auth_cb.start()
    try:
        assert idp.jwks.hits == 2 and outcomes == ["ok"]
        idp.clock.advance(COOLDOWN + 1)
        tokens = [sign(RSA, _claims(idp), kid=secrets.token_hex(8)) for _ in range(100)]
        for token in tokens[:50]:
            await _refused(auth, token, "unknown-key")
        results = await asyncio.gather(*(auth.authenticate(t) for t in tokens[50:]), return_exceptions=True)
        assert all(isinstance(r, AuthenticationError) and r.reason == "unknown-key" for r in results)
        assert idp.jwks.hits == 3
        for token in tokens[:20]:
            await _refused(auth_cb, token, "unknown-key")
        assert idp.jwks.hits == 4
        assert outcomes == ["ok", "ok"] + ["cooldown"] * 19
        idp.clock.advance(COOLDOWN)
        await _refused(auth, tokens[0], "unknown-key")
        assert idp.jwks.hits == 5
    finally:
        await auth_cb.close()


def _segments(idp: Idp) -> list[Any]:
    good = sign(RSA, claims(now=idp.clock.now))
    h, p, s = good.split(".")
    return [
        "",
        "abc",
        f"{h}.{p}",
        f"{h}.{p}.{s}.{s}",
        f"{h}..{s}",
        f".{p}.{s}",
        f"{h}.{p}.{s}=",
        f"{h}.{p}.{s}!",
        f"{h} .{p}.{s}",
        f"{h}.{b64url(b'not json')}.{s}",
        f"{b64url(b'{')}.{p}.{s}",
        f"{h}.{p}.{s[:-1]}\u00e9",
        f"{b64url(b'[]')}.{p}.{s}",
        f"{b64url({'typ': 'JWT'})}.{p}.{s}",
    ]


@pytest.mark.parametrize("index", range(14))
async def test_malformed_segments(idp: Idp, make_auth: MakeAuth, index: int) -> None:
    auth = await make_auth()
    await _refused(auth, _segments(idp)[index], "malformed-token")


async def test_oversized_token_is_refused_before_any_work(idp: Idp, make_auth: MakeAuth) -> None:
    auth = await make_auth(max_token_bytes=2048)
    hits = idp.jwks.hits
    big = sign(RSA, _claims(idp, padding="x" * 2048))
    await _refused(auth, big, "token-too-large")
    await _refused(auth, "a" * 10_000_000, "token-too-large")
    assert auth.signature_checks == 0 and idp.jwks.hits == hits


@pytest.mark.parametrize("member", ["jku", "x5u"])
async def test_jku_and_x5u_are_never_fetched(
    idp: Idp, make_auth: MakeAuth, aiohttp_server: Any, member: str
) -> None:
    evil = JwksServer(ATTACKER)
    evil_url = str((await aiohttp_server(evil.app())).make_url("/jwks"))
    auth = await make_auth()
    idp.clock.advance(COOLDOWN)
    forged = sign(ATTACKER, _claims(idp), headers={member: evil_url})
    await _refused(auth, forged, "unknown-key")
    forged_known_kid = sign(ATTACKER, _claims(idp), kid=RSA.kid, headers={member: evil_url})
    await _refused(auth, forged_known_kid, "bad-signature")
    legit = sign(RSA, _claims(idp, sub="legit"), headers={member: evil_url})
    assert (await auth.authenticate(legit)).subject == "legit"
    assert evil.hits == 0


async def test_embedded_jwk_and_x5c_are_never_used_as_the_key(idp: Idp, make_auth: MakeAuth) -> None:
    auth = await make_auth()
    idp.clock.advance(COOLDOWN)
    public_b64 = "".join(ATTACKER.public_pem.strip().splitlines()[1:-1])
    for header in ({"jwk": ATTACKER.jwk}, {"x5c": [public_b64]}):
        await _refused(auth, sign(ATTACKER, _claims(idp), headers=header), "unknown-key")
        await _refused(auth, sign(ATTACKER, _claims(idp), kid=RSA.kid, headers=header), "bad-signature")
        await _refused(auth, sign(ATTACKER, _claims(idp), kid=None, headers=header), "bad-signature")


def test_two_different_tokens_in_two_slots() -> None:
    first, second = sign(RSA, claims(sub="a")), sign(RSA, claims(sub="b"))
    headers = CIMultiDictProxy(CIMultiDict([("Authorization", f"Bearer {first}"), ("X-Api-Key", second)]))
    with pytest.raises(AuthenticationError) as caught:
        extract_token(
            headers,
            MultiDictProxy(MultiDict()),
            None,
            (TOKEN_SLOTS["authorization"], TOKEN_SLOTS["x-api-key"]),
        )
    assert caught.value.reason == "multiple-tokens"
    assert first not in caught.value.message and second not in caught.value.message


async def test_jwks_down_at_start_then_up_recovers(idp: Idp, make_auth: MakeAuth) -> None:
    idp.jwks.status = 503
    auth = await make_auth()
    assert not auth.ready()
    token = sign(RSA, _claims(idp, sub="late"))
    await _refused(auth, token, "unknown-key")
    idp.jwks.status = 200
    idp.clock.advance(COOLDOWN)
    assert (await auth.authenticate(token)).subject == "late"
    assert auth.ready()


async def test_idp_down_after_keys_are_cached_keeps_stale_keys(idp: Idp, make_auth: MakeAuth) -> None:
    auth = await make_auth()
    hits = idp.jwks.hits
    idp.jwks.status = 500
    idp.clock.advance(TTL * 3)
    token = sign(RSA, _claims(idp, sub="stale-ok"))
    assert (await auth.authenticate(token)).subject == "stale-ok"
    for _ in range(50):
        if idp.jwks.hits > hits:
            break
        await asyncio.sleep(0.01)
    assert idp.jwks.hits == hits + 1
    await asyncio.sleep(0.05)
    assert auth.ready()
    assert auth.key_age_seconds()[ISSUER] == pytest.approx(TTL * 3)
    assert (await auth.authenticate(sign(EC, _claims(idp, sub="ec")))).subject == "ec"


async def test_key_rotation_new_kid_one_refetch_then_accepted(idp: Idp, make_auth: MakeAuth) -> None:
    auth = await make_auth()
    idp.clock.advance(COOLDOWN)
    hits = idp.jwks.hits
    idp.jwks.keys = [RSA, NEW]
    assert (await auth.authenticate(sign(NEW, _claims(idp, sub="rotated")))).subject == "rotated"
    assert (await auth.authenticate(sign(NEW, _claims(idp, sub="again")))).subject == "again"
    assert idp.jwks.hits == hits + 1
    idp.jwks.keys = [NEW]
    idp.clock.advance(COOLDOWN)
    await _refused(auth, sign(EC, _claims(idp)), "unknown-key")
    assert idp.jwks.hits == hits + 2
    await _refused(auth, sign(EC, _claims(idp, sub="gone")), "unknown-key")


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
@pytest.mark.parametrize(
    "value", [10**400, -(10**400), 10**20, 1e300], ids=["1e400", "-1e400", "1e20", "1e300f"]
)
async def test_a_huge_integer_time_claim_is_refused_not_a_crash(
    idp: Idp, make_auth: MakeAuth, claim: str, value: int
) -> None:
    """A validly signed token whose time claim does not fit a float (OverflowError before)."""
    auth = await make_auth()
    await _refused(auth, sign(RSA, _claims(idp, **{claim: value})), "invalid-claim")


async def test_a_token_signed_by_a_removed_key_stops_working_at_the_next_refresh(
    idp: Idp, make_auth: MakeAuth
) -> None:
    """Verified once before the IdP dropped its key, the token must not live on in the token cache."""
    auth = await make_auth()
    token = sign(RSA, _claims(idp, sub="before-rotation", exp=idp.clock.now + TTL * 10))
    assert (await auth.authenticate(token)).subject == "before-rotation"
    assert (await auth.authenticate(token)).subject == "before-rotation"  # from the cache
    kept = sign(EC, _claims(idp, sub="kept", exp=idp.clock.now + TTL * 10))
    assert (await auth.authenticate(kept)).subject == "kept"

    idp.jwks.keys = [EC, NEW]
    idp.clock.advance(TTL)
    hits = idp.jwks.hits
    await auth.authenticate(kept)  # a stale set is refreshed in the background
    for _ in range(100):
        if idp.jwks.hits > hits:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    await _refused(auth, token, "unknown-key")
    assert (await auth.authenticate(kept)).subject == "kept"


async def test_an_unchanged_key_set_keeps_the_token_cache(idp: Idp, make_auth: MakeAuth) -> None:
    auth = await make_auth()
    token = sign(RSA, _claims(idp, exp=idp.clock.now + TTL * 10))
    await auth.authenticate(token)
    checks = auth.signature_checks
    idp.clock.advance(TTL)
    hits = idp.jwks.hits
    await auth.authenticate(token)
    for _ in range(100):
        if idp.jwks.hits > hits:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    await auth.authenticate(token)
    assert auth.signature_checks == checks
