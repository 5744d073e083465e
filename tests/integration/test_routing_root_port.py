"""Root-URL routing by listener port: EspoCRM clients that assume the CRM is at a host root connect.

The gateway listens on its main port (EspoCRM under /espo) and on a second port where the EspoCRM
upstream sits at the root. A client that resolves ``/api/v1/`` against the host root works on the
second port; on the first it gets a 404 that says why in ``X-Status-Reason``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.config.loader import load_config_text
from gateway.sandbox.espocrm import ESPO_RECEIVED, build_espo_app
from tests.support.espo_clients import EspoClientError, RootJoinClient
from tests.support.jwt_factory import AUDIENCE, ISSUER, claims, make_key, sign
from tests.support.ports import free_port
from tests.support.serving import served
from tests.support.stack import ENV, ESPO_IDENTITY, espo_sandbox_config

POLICY = """
policy: espo-clients
subjects: {principals: [svc-test]}
entities:
  Lead: {read: allow, create: allow, edit: allow, delete: deny}
  Account: {read: allow}
limits:
  - {name: accounts, entity: Account, rate: 2/hour}
"""


def gateway_yaml(espo_url: str, main_port: int, root_port: int, jwk: str) -> str:
    return f"""
listen: {{host: 127.0.0.1, port: {main_port}}}
identity:
  issuers:
    - issuer: {ISSUER}
      audiences: [{AUDIENCE}]
      algorithms: [ES256]
      keys: [{{jwk: '{jwk}'}}]
upstreams:
  espo:
    dialect: espocrm
    url: {espo_url}
    match: {{path_prefix: /espo}}
    auth: {{scheme: espo-apikey}}
  espo-root:
    dialect: espocrm
    url: {espo_url}
    match: {{port: {root_port}}}
    auth: {{scheme: espo-apikey}}
identities:
  - match: {{sub: svc-test}}
    espo: {ESPO_IDENTITY["espo-key"]}
    espo-root: {ESPO_IDENTITY["espo-key"]}
policies: [policies/]
"""


@dataclass
class RootStack:
    main: str
    root: str
    token: str
    http: aiohttp.ClientSession
    espo: Any


@pytest.fixture
async def stack(aiohttp_server: Any, tmp_path: Path) -> AsyncIterator[RootStack]:
    import json

    espo = await aiohttp_server(build_espo_app(espo_sandbox_config()), access_log=None)
    key = make_key("ES256")
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.yaml").write_text(POLICY)
    main_port, root_port = free_port(), free_port()
    text = gateway_yaml(str(espo.make_url("")).rstrip("/"), main_port, root_port, json.dumps(key.jwk))
    config = load_config_text(text, str(tmp_path / "gateway.yaml"), ENV)
    async with served(config), aiohttp.ClientSession() as http:
        yield RootStack(
            f"http://127.0.0.1:{main_port}/espo",
            f"http://127.0.0.1:{root_port}",
            sign(key, claims(sub="svc-test")),
            http,
            espo,
        )


async def test_a_root_joining_client_reads_and_writes_at_the_root_port(stack: RootStack) -> None:
    client = RootJoinClient(stack.http, stack.root, stack.token)
    created = await client.request("POST", "Lead", {"lastName": "Root"})
    assert created["lastName"] == "Root"
    listed = await client.request("GET", "Lead", {"maxSize": 5})
    assert any(item.get("id") == created["id"] for item in listed["list"])
    assert stack.espo.app[ESPO_RECEIVED][-1].path_qs.startswith("/api/v1/Lead")


@pytest.mark.parametrize(
    ("token", "method", "action", "status", "reason_part"),
    [
        ("bad", "GET", "Lead", 401, "token"),
        ("good", "DELETE", "Lead/some-id", 403, ""),
    ],
)
async def test_refusals_at_the_root_port_say_why(
    stack: RootStack, token: str, method: str, action: str, status: int, reason_part: str
) -> None:
    client = RootJoinClient(stack.http, stack.root, stack.token if token == "good" else "not-a-token")
    with pytest.raises(EspoClientError) as caught:
        await client.request(method, action)
    assert caught.value.status == status
    assert caught.value.reason != "Unknown" and reason_part in caught.value.reason.lower()


async def test_rate_limited_at_the_root_port_with_a_reason(stack: RootStack) -> None:
    client = RootJoinClient(stack.http, stack.root, stack.token)
    for _ in range(2):
        await client.request("GET", "Account")
    with pytest.raises(EspoClientError) as caught:
        await client.request("GET", "Account")
    assert caught.value.status == 429 and "rate limit" in caught.value.reason


async def test_a_root_joining_client_on_a_path_prefix_gets_a_404_that_says_why(stack: RootStack) -> None:
    client = RootJoinClient(stack.http, stack.main, stack.token)
    assert client.url("Lead") == stack.main.removesuffix("/espo") + "/api/v1/Lead"  # the base path is gone
    before = len(stack.espo.app[ESPO_RECEIVED])
    with pytest.raises(EspoClientError) as caught:
        await client.request("GET", "Lead")
    assert caught.value.status == 404
    assert "no CRM is configured" in caught.value.reason
    assert len(stack.espo.app[ESPO_RECEIVED]) == before


async def test_the_root_port_serves_only_its_own_upstream(stack: RootStack) -> None:
    """The prefix of the main listener's upstream means nothing on the root port (and vice versa)."""
    headers = {"X-Api-Key": stack.token}
    before = len(stack.espo.app[ESPO_RECEIVED])
    async with stack.http.get(f"{stack.root}/espo/api/v1/Lead", headers=headers) as resp:
        assert resp.status == 403 and resp.headers["X-Status-Reason"]  # not an API path at the root
    assert len(stack.espo.app[ESPO_RECEIVED]) == before
    async with stack.http.get(f"{stack.main}/api/v1/Lead", headers=headers) as resp:
        assert resp.status == 200
