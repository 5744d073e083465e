"""The Authenticator with introspecting issuers, against the sandbox IdP on a real socket and a fake
clock shared by both: which tokens are introspected, where, and how long answers are kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.auth.authenticator import Authenticator
from gateway.auth.introspection_settings import IntrospectionSettings
from gateway.errors import AuthenticationError, ConfigError, ServiceUnavailable
from gateway.secrets import Secret
from tests.support.idp import GATEWAY_CLIENT, GATEWAY_SECRET, Idp, start_idp
from tests.support.jwt_factory import FakeClock, auth_settings, claims, issuer_settings, make_key, sign

EC = make_key("ES256")


def introspection(idp: Idp, **overrides: Any) -> IntrospectionSettings:
    values: dict[str, Any] = {
        "url": idp.introspect_url,
        "client_id": GATEWAY_CLIENT,
        "client_secret": Secret(GATEWAY_SECRET),
    }
    values.update(overrides)
    return IntrospectionSettings(**values)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def idp(aiohttp_server: Any, clock: FakeClock) -> Idp:
    return await start_idp(aiohttp_server, clock=clock)


@pytest.fixture
async def made() -> AsyncIterator[list[Authenticator]]:
    authenticators: list[Authenticator] = []
    yield authenticators
    for a in authenticators:
        await a.close()


def authenticator(made: list[Authenticator], clock: FakeClock, *issuers: Any) -> Authenticator:
    a = Authenticator(auth_settings(*issuers), clock=clock)
    made.append(a)
    return a


async def test_positive_answers_are_kept_until_the_ttl_or_exp_whichever_first(
    idp: Idp, clock: FakeClock, made: list[Authenticator]
) -> None:
    a = authenticator(made, clock, issuer_settings(introspection=introspection(idp, cache_ttl_seconds=100)))
    long_lived, short_lived = await idp.mint(), await idp.mint(lifetime="50")
    assert (await a.authenticate(long_lived)).subject == "svc-test"
    await a.authenticate(short_lived)
    assert idp.introspections == 2
    clock.advance(45)
    await a.authenticate(long_lived)
    await a.authenticate(short_lived)
    assert idp.introspections == 2  # both fresh
    clock.advance(10 + 30)  # past the short one's exp + leeway (30 s): asked again, now inactive
    await a.authenticate(long_lived)
    with pytest.raises(AuthenticationError) as refused:
        await a.authenticate(short_lived)
    assert refused.value.reason == "inactive-token" and idp.introspections == 3
    clock.advance(20)  # 105 s: past the TTL
    await a.authenticate(long_lived)
    assert idp.introspections == 4


async def test_negative_answers_are_kept_briefly(
    idp: Idp, clock: FakeClock, made: list[Authenticator]
) -> None:
    a = authenticator(
        made, clock, issuer_settings(introspection=introspection(idp, negative_cache_seconds=5))
    )
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            await a.authenticate("n" * 50)
    assert idp.introspections == 1
    clock.advance(5)
    with pytest.raises(AuthenticationError):
        await a.authenticate("n" * 50)
    assert idp.introspections == 2


async def test_the_cache_is_bounded(idp: Idp, clock: FakeClock, made: list[Authenticator]) -> None:
    a = authenticator(made, clock, issuer_settings(introspection=introspection(idp, cache_size=2)))
    tokens = [await idp.mint() for _ in range(3)]
    for token in tokens:
        await a.authenticate(token)
    assert len(a.introspectors[0].cache) == 2
    await a.authenticate(tokens[0])  # evicted first: asked again
    assert idp.introspections == 4


@pytest.mark.parametrize(
    "token",
    ["a.b.c", "eyJhbGciOiJub25lIn0.e30.", "x" * 30 + "." + "y" * 30 + "." + "z"],
)
async def test_a_token_with_exactly_two_dots_is_a_jwt_and_never_introspected(
    idp: Idp, clock: FakeClock, made: list[Authenticator], token: str
) -> None:
    a = authenticator(made, clock, issuer_settings(introspection=introspection(idp)))
    with pytest.raises(AuthenticationError):
        await a.authenticate(token)
    assert idp.introspections == 0


@pytest.mark.parametrize("token", ["ory_at_abc.def", "plain-opaque-token-0123456789", "a.b.c.d"])
async def test_other_tokens_are_opaque(
    idp: Idp, clock: FakeClock, made: list[Authenticator], token: str
) -> None:
    a = authenticator(made, clock, issuer_settings(introspection=introspection(idp)))
    with pytest.raises(AuthenticationError) as refused:
        await a.authenticate(token)
    assert refused.value.reason == "inactive-token" and idp.introspections == 1


async def test_without_introspection_an_opaque_token_is_malformed(
    clock: FakeClock, made: list[Authenticator]
) -> None:
    import json

    from gateway.auth.settings import StaticKey

    a = authenticator(
        made,
        clock,
        issuer_settings(algorithms=("ES256",), static_keys=(StaticKey(EC.kid, json.dumps(EC.jwk)),)),
    )
    with pytest.raises(AuthenticationError) as refused:
        await a.authenticate("plain-opaque-token-0123456789")
    assert refused.value.reason == "malformed-token"
    assert (await a.authenticate(sign(EC, claims(sub="svc")))).subject == "svc"


async def test_token_prefixes_pick_the_issuer(
    aiohttp_server: Any, clock: FakeClock, made: list[Authenticator]
) -> None:
    first = await start_idp(aiohttp_server, clock=clock)
    second = await start_idp(aiohttp_server, issuer="https://second.test", clock=clock)
    a = authenticator(
        made,
        clock,
        issuer_settings(introspection=introspection(first, token_prefix="one_")),
        issuer_settings(
            issuer="https://second.test", introspection=introspection(second, token_prefix="two_")
        ),
    )
    for token in ("one_" + "x" * 40, "two_" + "x" * 40):
        with pytest.raises(AuthenticationError):
            await a.authenticate(token)
    with pytest.raises(AuthenticationError) as refused:
        await a.authenticate("three_" + "x" * 40)
    assert refused.value.reason == "wrong-issuer"
    assert (first.introspections, second.introspections) == (1, 1)


async def test_an_unreachable_endpoint_is_unavailable_not_inactive(
    clock: FakeClock, made: list[Authenticator]
) -> None:
    from tests.support.ports import free_port

    settings = IntrospectionSettings(
        url=f"http://127.0.0.1:{free_port()}/introspect",
        client_id="c",
        client_secret=Secret("s"),
        timeout_seconds=1,
    )
    a = authenticator(made, clock, issuer_settings(introspection=settings))
    with pytest.raises(ServiceUnavailable) as refused:
        await a.authenticate("t" * 50)
    assert refused.value.reason == "idp-unavailable"
    assert a.ready()  # an introspecting issuer needs no keys to be ready


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"url": "ftp://idp/introspect"}, "url"),
        ({"auth_method": "client_secret_jwt"}, "auth"),
        ({"client_secret": None}, "client_secret"),
        ({"auth_method": "private_key_jwt", "client_secret": None}, "private_key"),
        (
            {"auth_method": "private_key_jwt", "client_secret": None, "private_key": Secret("nope")},
            "private_key",
        ),
        ({"on_error": "allow"}, "on_error"),
        ({"negative_cache_seconds": 600}, "negative_cache_seconds"),
        ({"max_concurrent_lookups": 0}, "max_concurrent_lookups"),
        ({"token_prefix": "a.b"}, "token_prefix"),
    ],
)
def test_bad_introspection_settings_are_refused(overrides: dict[str, Any], key: str) -> None:
    values: dict[str, Any] = {
        "url": "https://idp.test/introspect",
        "client_id": "c",
        "client_secret": Secret("s"),
    }
    values.update(overrides)
    with pytest.raises(ConfigError) as refused:
        Authenticator(auth_settings(issuer_settings(introspection=IntrospectionSettings(**values))))
    assert refused.value.key == f"identity.issuers[0].introspection.{key}"


def test_two_introspecting_issuers_need_distinct_prefixes() -> None:
    one = IntrospectionSettings(url="https://a.test/i", client_id="c", client_secret=Secret("s"))
    with pytest.raises(ConfigError) as refused:
        Authenticator(
            auth_settings(
                issuer_settings(introspection=one),
                issuer_settings(issuer="https://b.test", introspection=one),
            )
        )
    assert refused.value.key.endswith("token_prefix")
