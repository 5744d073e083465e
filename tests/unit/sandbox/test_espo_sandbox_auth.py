from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import yarl
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.sandbox.espocrm import ESPO_AUTH, ESPO_RECEIVED, EspoSandboxConfig, EspoUser, build_espo_app
from gateway.sandbox.espocrm_request import AuthRequest, Session

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]

HMAC_KEY, HMAC_SECRET = "e69c94ab64c728e7639ec4296fa086c4", "ea361567ad802bbf9a3d67ef6470d0d1"
USERS = [
    EspoUser("u-apikey", "api-apikey", "ApiKey", api_key="k-apikey-0001"),
    EspoUser("u-hmac", "api-hmac", "Hmac", api_key=HMAC_KEY, secret_key=HMAC_SECRET),
    EspoUser("u-nosecret", "api-nosecret", "Hmac", api_key="k-nosecret"),
    EspoUser("u-admin", "admin", "Password", password="admin-pass", token="tok-admin", is_admin=True),
    EspoUser("u-jane", "jane", "Password", password="jane-pass", token="tok-jane"),
]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def hmac_header(string: str, *, key: str = HMAC_KEY, secret: str = HMAC_SECRET, form: str = "hex") -> str:
    mac = hmac.new(secret.encode(), string.encode(), hashlib.sha256)
    proofs = {"hex": mac.hexdigest().encode(), "upper": mac.hexdigest().upper().encode(), "raw": mac.digest()}
    return base64.b64encode(key.encode() + b":" + proofs[form]).decode()


async def send(
    client: Client, method: str, target: str, headers: dict[str, str] | None = None, **kwargs: Any
) -> ClientResponse:
    url = yarl.URL(str(client.make_url("")).rstrip("/") + target, encoded=True)
    return await client.session.request(method, url, headers=headers or {}, **kwargs)


@pytest.fixture
async def espo(aiohttp_client: MakeClient) -> Client:
    return await aiohttp_client(build_espo_app(EspoSandboxConfig(users=USERS, max_failed_logins=100)))


JANE = b64("jane:jane-pass")
ADMIN = b64("admin:admin-pass")
API_KEY = {"X-Api-Key": "k-apikey-0001"}
BY_TOKEN = {"Espo-Authorization-By-Token": "true"}
HMAC_OK = hmac_header("GET /App/user")

ACCEPTED = [
    ("api key", API_KEY, "u-apikey"),
    ("hmac hex", {"X-Hmac-Authorization": HMAC_OK}, "u-hmac"),
    ("hmac legacy raw", {"X-Hmac-Authorization": hmac_header("GET /App/user", form="raw")}, "u-hmac"),
    ("espo password", {"Espo-Authorization": JANE}, "u-jane"),
    ("espo password, blanks trimmed", {"Espo-Authorization": b64(" jane : jane-pass ")}, "u-jane"),
    ("espo password, lenient base64", {"Espo-Authorization": JANE.rstrip("=") + "*"}, "u-jane"),
    ("espo token by token", {"Espo-Authorization": b64("jane:tok-jane"), **BY_TOKEN}, "u-jane"),
    ("espo token as password", {"Espo-Authorization": b64("jane:tok-jane")}, "u-jane"),
    ("basic", {"Authorization": "Basic " + JANE}, "u-jane"),
    ("basic, scheme case", {"Authorization": "basic " + JANE}, "u-jane"),
    ("cgi header", {"Http-Espo-Cgi-Auth": "Basic " + JANE}, "u-jane"),
    ("auth-token cookie", {"Cookie": "auth-token=tok-jane"}, "u-jane"),
    ("admin as another user", {"Espo-Authorization": ADMIN, "X-Another-User": "jane"}, "u-jane"),
    ("espo auth disables api detection", {"Espo-Authorization": JANE, **API_KEY}, "u-jane"),
    ("x-api-key wins over hmac", {**API_KEY, "X-Hmac-Authorization": "bm9wZTpub3Bl"}, "u-apikey"),
    ("basic does not disable api detection", {"Authorization": "Basic " + JANE, **API_KEY}, "u-apikey"),
]


@pytest.mark.parametrize(("headers", "user_id"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
async def test_credentials_the_server_accepts(espo: Client, headers: dict[str, str], user_id: str) -> None:
    response = await send(espo, "GET", "/api/v1/App/user", headers)
    assert response.status == 200
    assert response.headers["X-Sandbox-User-Id"] == user_id
    assert (await response.json())["user"]["id"] == user_id


REFUSED = [
    ("wrong api key", {"X-Api-Key": "k-apikey-0002"}),
    ("empty api key", {"X-Api-Key": ""}),
    ("api key of an hmac user", {"X-Api-Key": HMAC_KEY}),
    ("hmac by an api-key user", {"X-Hmac-Authorization": hmac_header("GET /App/user", key="k-apikey-0001")}),
    ("hmac wrong secret", {"X-Hmac-Authorization": hmac_header("GET /App/user", secret="0" * 32)}),
    ("hmac upper-case hex", {"X-Hmac-Authorization": hmac_header("GET /App/user", form="upper")}),
    ("hmac lower-case method", {"X-Hmac-Authorization": hmac_header("get /App/user")}),
    ("hmac over the full path", {"X-Hmac-Authorization": hmac_header("GET /api/v1/App/user")}),
    ("hmac without digest", {"X-Hmac-Authorization": b64(HMAC_KEY)}),
    ("x-api-key wins even when wrong", {"X-Api-Key": "nope", "X-Hmac-Authorization": HMAC_OK}),
    ("espo auth wins even when wrong", {"Espo-Authorization": b64("jane:nope"), **API_KEY}),
    ("wrong password", {"Espo-Authorization": b64("jane:nope")}),
    ("empty password", {"Espo-Authorization": b64("jane:")}),
    ("another user's token", {"Espo-Authorization": b64("jane:tok-admin")}),
    ("password sent by token", {"Espo-Authorization": JANE, **BY_TOKEN}),
    ("api user by password", {"Espo-Authorization": b64("api-apikey:k-apikey-0001")}),
    ("by-token next to an api key", {**API_KEY, **BY_TOKEN}),
    ("another user next to an api key", {**API_KEY, "X-Another-User": "jane"}),
    ("another user by a non-admin", {"Espo-Authorization": JANE, "X-Another-User": "admin"}),
    ("another user that is an api user", {"Espo-Authorization": ADMIN, "X-Another-User": "api-hmac"}),
    ("unknown cookie token", {"Cookie": "auth-token=tok-nobody"}),
]


@pytest.mark.parametrize("headers", [c[1] for c in REFUSED], ids=[c[0] for c in REFUSED])
async def test_credentials_the_server_refuses(espo: Client, headers: dict[str, str]) -> None:
    response = await send(espo, "GET", "/api/v1/App/user", headers)
    assert response.status == 401
    assert await response.read() == b""
    assert "X-Status-Reason" not in response.headers
    assert "X-Sandbox-User-Id" not in response.headers
    assert "WWW-Authenticate" not in response.headers


@pytest.mark.parametrize(
    ("method", "headers", "dialog"),
    [
        ("GET", {}, True),
        ("DELETE", {}, True),
        ("POST", {}, False),
        ("GET", {"X-Requested-With": "XMLHttpRequest"}, False),
        ("GET", {"Referer": "https://crm.example/"}, False),
        ("GET", {"Authorization": "Bearer abc"}, True),
        ("GET", {"Authorization": "Basic " + b64("jane:")}, True),
        ("GET", {"Espo-Authorization": b64(":jane-pass")}, True),
        ("GET", {"X-Api-Key": "nope"}, False),
    ],
)
async def test_www_authenticate_only_without_credentials(
    espo: Client, method: str, headers: dict[str, str], dialog: bool
) -> None:
    response = await send(espo, method, "/api/v1/Lead", headers)
    assert response.status == 401
    assert (response.headers.get("WWW-Authenticate") == 'Basic realm=""') is dialog


@pytest.mark.parametrize("value", [b64("no-colon-here"), ""])
async def test_undecodable_espo_authorization_is_a_400(espo: Client, value: str) -> None:
    response = await send(espo, "GET", "/api/v1/Lead", {"Espo-Authorization": value})
    assert response.status == 400
    assert response.headers["X-Status-Reason"] == "Auth: Bad authorization string provided."


async def test_hmac_user_without_secret_is_a_server_error(espo: Client) -> None:
    header = hmac_header("GET /Lead", key="k-nosecret")
    response = await send(espo, "GET", "/api/v1/Lead", {"X-Hmac-Authorization": header})
    assert response.status == 500


async def test_password_login_returns_a_token_usable_by_token(espo: Client) -> None:
    by_basic = await (await send(espo, "GET", "/api/v1/App/user", {"Authorization": "Basic " + JANE})).json()
    assert by_basic["token"] is None
    login = await (await send(espo, "GET", "/api/v1/App/user", {"Espo-Authorization": JANE})).json()
    assert login["token"] == "tok-jane"
    headers = {"Espo-Authorization": b64(f"jane:{login['token']}"), "Espo-Authorization-By-Token": "true"}
    again = await send(espo, "GET", "/api/v1/App/user", headers)
    assert again.headers["X-Sandbox-User-Id"] == "u-jane"
    assert (await again.json())["token"] == "tok-jane"


async def test_a_user_without_preset_token_gets_one_issued(aiohttp_client: MakeClient) -> None:
    users = [EspoUser("u-bob", "bob", "Password", password="bob-pass")]
    client = await aiohttp_client(build_espo_app(EspoSandboxConfig(users=users)))
    login = await send(client, "GET", "/api/v1/App/user", {"Espo-Authorization": b64("bob:bob-pass")})
    token = (await login.json())["token"]
    assert isinstance(token, str) and len(token) >= 16
    headers = {"Espo-Authorization": b64(f"bob:{token}"), "Espo-Authorization-By-Token": "true"}
    assert (await send(client, "GET", "/api/v1/App/user", headers)).headers["X-Sandbox-User-Id"] == "u-bob"


async def test_every_request_is_recorded_before_auth(espo: Client) -> None:
    await send(espo, "POST", "/api/v1/Lead?x=%2F", {"X-Api-Key": "nope", "X-Trace": "1"}, data=b'{"a":1}')
    received = espo.app[ESPO_RECEIVED][-1]
    assert (received.method, received.path_qs, received.body) == ("POST", "/api/v1/Lead?x=%2F", b'{"a":1}')
    assert received.headers["X-Api-Key"] == "nope"
    assert received.headers["X-Trace"] == "1"


async def test_failed_logins_lock_out_the_client_ip(aiohttp_client: MakeClient) -> None:
    clock = FakeClock()
    config = EspoSandboxConfig(users=USERS, max_failed_logins=3, clock=clock)
    client = await aiohttp_client(build_espo_app(config))
    good = {"X-Api-Key": "k-apikey-0001"}
    for _ in range(4):
        assert (await send(client, "GET", "/api/v1/Lead", {"X-Api-Key": "bad"})).status == 401
    assert client.app[ESPO_AUTH].failed_logins("127.0.0.1") == 4

    locked = await send(client, "GET", "/api/v1/Lead", {**good, "X-Forwarded-For": "203.0.113.9"})
    assert locked.status == 403
    assert await locked.read() == b""
    assert (await send(client, "GET", "/api/v1/Lead", {"Espo-Authorization": JANE})).status == 403
    # requests without a credential never reach the login, and by-token logins skip the check
    assert (await send(client, "GET", "/api/v1/Lead")).status == 401
    by_token = {"Espo-Authorization": b64("jane:tok-jane"), "Espo-Authorization-By-Token": "true"}
    assert (await send(client, "GET", "/api/v1/Lead", by_token)).status == 200
    # another address is not affected
    other = AuthRequest("GET", "/Lead", CIMultiDictProxy(CIMultiDict(good)), {}, "10.1.2.3")
    assert isinstance(client.app[ESPO_AUTH].authenticate(other), Session)

    clock.now += 61
    assert (await send(client, "GET", "/api/v1/Lead", good)).status == 200


async def test_failures_that_never_reach_a_login_are_not_counted(aiohttp_client: MakeClient) -> None:
    client = await aiohttp_client(build_espo_app(EspoSandboxConfig(users=USERS, max_failed_logins=1)))
    not_counted = [
        {},
        {"Espo-Authorization": b64("jane:tok-none"), "Espo-Authorization-By-Token": "true"},
        {"X-Api-Key": "k-apikey-0001", "Espo-Authorization-By-Token": "true"},
        {"X-Api-Key": "k-apikey-0001", "X-Another-User": "jane"},
        {"Espo-Authorization": b64("jane:tok-admin")},
    ]
    for headers in not_counted:
        assert (await send(client, "GET", "/api/v1/Lead", headers)).status == 401
    assert client.app[ESPO_AUTH].failed_logins("127.0.0.1") == 0
