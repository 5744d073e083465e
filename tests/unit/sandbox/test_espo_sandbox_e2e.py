"""Each Espo signer, driven directly, against the sandbox: what a signer produces, the server accepts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

import pytest
import yarl
from aiohttp import web
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict

from gateway.sandbox.espocrm import EspoSandboxConfig, EspoUser, build_espo_app
from gateway.secrets import Secret
from gateway.signers.base import OutboundRequest, Signer
from gateway.signers.espo_apikey import EspoApiKeySigner
from gateway.signers.espo_basic import EspoBasicSigner, EspoTokenSigner
from gateway.signers.espo_hmac import EspoHmacSigner
from gateway.signers.espo_path import encode_decoded_path

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]

HMAC_KEY, HMAC_SECRET = "fcef5ec69a1711eab0f16bb613f7a113", "3044a08b0f3660536d9873828befc858"
USERS = [
    EspoUser("u-apikey", "api-apikey", "ApiKey", api_key="k-apikey-0001"),
    EspoUser("u-hmac", "api-hmac", "Hmac", api_key=HMAC_KEY, secret_key=HMAC_SECRET),
    EspoUser("u-jane", "jane", "Password", password="jane pass:wörd", token="tok-jane"),
]
HMAC_IDENTITY = {"api_key": HMAC_KEY, "secret_key": HMAC_SECRET}
SCHEMES: dict[str, tuple[Signer, dict[str, str], str]] = {
    "espo-apikey": (EspoApiKeySigner(), {"api_key": "k-apikey-0001"}, "u-apikey"),
    "espo-hmac hex": (EspoHmacSigner(digest="hex"), HMAC_IDENTITY, "u-hmac"),
    "espo-hmac raw": (EspoHmacSigner(digest="raw"), HMAC_IDENTITY, "u-hmac"),
    "espo-basic": (EspoBasicSigner(), {"username": "jane", "password": "jane pass:wörd"}, "u-jane"),
    "espo-token": (EspoTokenSigner(), {"username": "jane", "token": "tok-jane"}, "u-jane"),
}
PATHS = [
    ("GET", "/Lead"),
    ("GET", "/Lead/"),
    ("GET", "/Lead/(x)!*'"),
    ("GET", encode_decoded_path("/Contact/abc def")),
    ("GET", "/Document/%c3%a9t%c3%a9"),
    ("GET", "/Document/%C3%A9t%C3%A9"),
    ("GET", encode_decoded_path("/Lead/été (2)!")),
    ("GET", "/Lead/100%25"),
    ("GET", "/Lead/50%"),
    ("GET", "/Account/6b0343f1e9ac6e2c7/contacts"),
    ("POST", "/Lead"),
    ("DELETE", "/Opportunity/6b0343f200f586ef2"),
]


def signed(
    signer: Signer, identity: dict[str, str], method: str, path: str, base_path: str
) -> OutboundRequest:
    request = OutboundRequest(
        method=method,
        path=f"{base_path}/api/v1{path}",
        query=[("maxSize", "5"), ("q", "a b")],
        headers=CIMultiDict(),
        base_path=base_path,
    )
    signer.sign(request, {name: Secret(value) for name, value in identity.items()}, now=0.0)
    return request


async def forward(
    client: Client, request: OutboundRequest, path: str | None = None
) -> tuple[int, str | None]:
    target = (path or request.path) + "?" + urlencode(request.query)
    url = yarl.URL(str(client.make_url("")).rstrip("/") + target, encoded=True)
    body = b'{"firstName": "E2E"}' if request.method == "POST" else None
    async with client.session.request(request.method, url, headers=request.headers, data=body) as response:
        return response.status, response.headers.get("X-Sandbox-User-Id")


@pytest.mark.parametrize("base_path", ["", "/crm"])
@pytest.mark.parametrize("scheme", list(SCHEMES))
async def test_every_scheme_is_accepted_on_every_path(
    aiohttp_client: MakeClient, scheme: str, base_path: str
) -> None:
    client = await aiohttp_client(build_espo_app(EspoSandboxConfig(users=USERS, base_path=base_path)))
    signer, identity, user_id = SCHEMES[scheme]
    for method, path in PATHS:
        status, seen = await forward(client, signed(signer, identity, method, path, base_path))
        assert status not in (401, 403), (method, path)
        assert seen == user_id, (method, path)


@pytest.mark.parametrize(
    ("signed_path", "sent_path"),
    [
        ("/Document/%c3%a9t%c3%a9", "/Document/%C3%A9t%C3%A9"),
        ("/Document/%C3%A9t%C3%A9", "/Document/%c3%a9t%c3%a9"),
        ("/Lead/A", "/Lead/%41"),
        ("/Lead", "/Lead/"),
        ("/Lead", "/lead"),
    ],
)
async def test_hmac_over_another_spelling_of_the_path_is_refused(
    aiohttp_client: MakeClient, signed_path: str, sent_path: str
) -> None:
    client = await aiohttp_client(build_espo_app(EspoSandboxConfig(users=USERS)))
    signer, identity, _ = SCHEMES["espo-hmac hex"]
    request = signed(signer, identity, "GET", signed_path, "")
    assert await forward(client, request, path=f"/api/v1{sent_path}") == (401, None)
    assert (await forward(client, request))[0] != 401


async def test_sub_delims_sent_raw_or_encoded_are_the_same_resource(aiohttp_client: MakeClient) -> None:
    client = await aiohttp_client(build_espo_app(EspoSandboxConfig(users=USERS)))
    signer, identity, _ = SCHEMES["espo-hmac hex"]
    request = signed(signer, identity, "GET", "/Lead/(x)!*'", "")
    assert await forward(client, request, path="/api/v1/Lead/%28x%29%21%2A%27") == (404, "u-hmac")
