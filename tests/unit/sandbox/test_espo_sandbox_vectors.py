"""Every HMAC vector computed with the real EspoCRM code passes the sandbox; near misses do not."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yarl
from aiohttp import web
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.sandbox.espocrm import EspoSandboxConfig, EspoUser, api_base, build_espo_app
from gateway.sandbox.espocrm_auth import EspoAuthenticator
from gateway.sandbox.espocrm_request import AuthRequest, Refusal, Session
from gateway.signers.espo_path import filter_path

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]

VECTORS = json.loads((Path(__file__).parents[2] / "vectors" / "espo-hmac.json").read_text())["vectors"]
KEYS = sorted({(v["api_key"], v["secret_key"]) for v in VECTORS})
USERS = [
    EspoUser(f"u-hmac-{n}", f"api-{n}", "Hmac", api_key=key, secret_key=secret)
    for n, (key, secret) in enumerate(KEYS)
]
USER_OF = {user.api_key: user.id for user in USERS}
SENDABLE = [v for v in VECTORS if v["request_uri"].isascii()]
RAW_BYTES = [v for v in VECTORS if not v["request_uri"].isascii()]


def upstream_base(vector: dict[str, str]) -> str:
    return vector["base_path"].removesuffix("/index.php").removesuffix("/api/v1")


def header(vector: dict[str, str], signed: str, *, upper: bool = False) -> str:
    digest = hmac.new(vector["secret_key"].encode(), signed.encode(), hashlib.sha256).hexdigest()
    return base64.b64encode(f"{vector['api_key']}:{digest.upper() if upper else digest}".encode()).decode()


async def send(client: Client, vector: dict[str, str], value: str) -> tuple[int, str | None]:
    url = yarl.URL(str(client.make_url("")).rstrip("/") + vector["request_uri"], encoded=True)
    headers = {"X-Hmac-Authorization": value}
    async with client.session.request(vector["method"], url, headers=headers) as response:
        return response.status, response.headers.get("X-Sandbox-User-Id")


async def sandbox(aiohttp_client: MakeClient, vector: dict[str, str]) -> Client:
    config = EspoSandboxConfig(users=USERS, base_path=upstream_base(vector), max_failed_logins=1000)
    return await aiohttp_client(build_espo_app(config))


@pytest.mark.parametrize("form", ["header_hex", "header_raw"])
@pytest.mark.parametrize("vector", SENDABLE, ids=[f"{v['method']} {v['request_uri']}" for v in SENDABLE])
async def test_every_vector_is_accepted(
    aiohttp_client: MakeClient, vector: dict[str, str], form: str
) -> None:
    client = await sandbox(aiohttp_client, vector)
    status, user_id = await send(client, vector, vector[form])
    assert status not in (401, 403)
    assert user_id == USER_OF[vector["api_key"]]


@pytest.mark.parametrize("form", ["header_hex", "header_raw"])
@pytest.mark.parametrize("vector", RAW_BYTES, ids=[v["request_uri"] for v in RAW_BYTES])
def test_raw_utf8_vectors_are_accepted_by_the_same_check(vector: dict[str, str], form: str) -> None:
    """aiohttp's server refuses raw non-ASCII bytes in the request line (as php -S does), so these are
    checked one layer down: the path the sandbox would compute and its authenticator."""
    raw_path = urlsplit(vector["request_uri"]).path
    base = api_base(raw_path, upstream_base(vector))
    assert base == vector["base_path"]
    resource = filter_path(raw_path)[len(base) :]
    assert resource == vector["resource_path"]
    headers = CIMultiDictProxy(CIMultiDict({"X-Hmac-Authorization": vector[form]}))
    outcome = EspoAuthenticator(USERS, 10, 60, lambda: 0.0).authenticate(
        AuthRequest(vector["method"], resource, headers, {}, "127.0.0.1")
    )
    assert isinstance(outcome, Session) and outcome.user.id == USER_OF[vector["api_key"]]


WITH_QUERY = [v for v in SENDABLE if "?" in v["request_uri"]]


@pytest.mark.parametrize("vector", WITH_QUERY, ids=[v["request_uri"] for v in WITH_QUERY])
async def test_a_signature_over_the_query_is_refused(
    aiohttp_client: MakeClient, vector: dict[str, str]
) -> None:
    client = await sandbox(aiohttp_client, vector)
    query = vector["request_uri"].split("?", 1)[1]
    for signed in (f"{vector['signed_string']}?{query}", f"{vector['method']} {vector['request_uri']}"):
        assert await send(client, vector, header(vector, signed)) == (401, None)
    assert (await send(client, vector, header(vector, vector["signed_string"])))[0] == 200


@pytest.mark.parametrize("vector", SENDABLE[:4] + SENDABLE[-3:], ids=lambda v: v["request_uri"])
async def test_upper_case_hex_is_refused(aiohttp_client: MakeClient, vector: dict[str, str]) -> None:
    client = await sandbox(aiohttp_client, vector)
    assert vector["hex_hmac"] != vector["hex_hmac"].upper()
    assert await send(client, vector, header(vector, vector["signed_string"], upper=True)) == (401, None)


def test_the_two_escape_cases_are_different_resources() -> None:
    lower = next(v for v in VECTORS if v["request_uri"].endswith("%c3%a9t%c3%a9"))
    upper = next(v for v in VECTORS if v["request_uri"].endswith("%C3%A9t%C3%A9"))
    headers = CIMultiDictProxy(CIMultiDict({"X-Hmac-Authorization": upper["header_hex"]}))
    outcome = EspoAuthenticator(USERS, 10, 60, lambda: 0.0).authenticate(
        AuthRequest("GET", lower["resource_path"], headers, {}, "127.0.0.1")
    )
    assert outcome == Refusal(401)
