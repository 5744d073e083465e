"""An EspoCRM client that refuses API keys over 255 characters (or outside [A-Za-z0-9._-]) connects
with an opaque token: read, write, 401, 403 and 429 through the gateway to the sandbox EspoCRM."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.espo_clients import EspoClientError, ShortKeyClient
from tests.support.idp import issuer_lines, start_idp
from tests.support.jwt_factory import make_key
from tests.support.stack import Stack, start_stack

POLICY = """
policy: short-key
subjects: {principals: [svc-test]}
entities:
  Lead: {read: allow, create: allow, delete: deny}
  Account: {read: allow}
limits:
  - {name: accounts, entity: Account, rate: 1/hour}
"""


async def short_key_stack(aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path) -> tuple[Stack, str]:
    idp = await start_idp(aiohttp_server)
    stack = await start_stack(
        aiohttp_server,
        aiohttp_client,
        tmp_path,
        policies={"short-key": POLICY},
        issuer_keys=issuer_lines(idp, jwt_key=make_key("ES256")),
    )
    return stack, await idp.mint("svc-test")


async def test_the_client_refuses_a_jwt_and_takes_an_opaque_token(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    stack, opaque = await short_key_stack(aiohttp_server, aiohttp_client, tmp_path)
    async with aiohttp.ClientSession() as http:
        with pytest.raises(ValueError):
            ShortKeyClient(http, "http://x/espo-key", stack.token())  # an ES256 JWT: over 255 characters
        base = str(stack.client.make_url("/espo-key"))
        client = ShortKeyClient(http, base, opaque)
        created = await client.request("POST", "Lead", {"lastName": "Opaque"})
        listed = await client.request("GET", "Lead", {"maxSize": 5})
        assert any(item["id"] == created["id"] for item in listed["list"])
        failures = []
        for key, method, action in [
            ("unknown-but-well-formed-token-0123456789abcdefghij", "GET", "Lead"),  # 401
            (opaque, "DELETE", f"Lead/{created['id']}"),  # 403
            (opaque, "GET", "Account"),  # allowed: 1/hour
            (opaque, "GET", "Account"),  # 429
        ]:
            try:
                await ShortKeyClient(http, base, key).request(method, action)
                failures.append((200, ""))
            except EspoClientError as exc:
                failures.append((exc.status, exc.reason))
    assert [status for status, _ in failures] == [401, 403, 200, 429]
    assert all(reason and reason != "Unknown" for status, reason in failures if status != 200)
