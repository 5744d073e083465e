"""Header names some PHP set-ups fold together (``X.Api.Key`` and ``X_Api_Key`` reach PHP as
``HTTP_X_API_KEY``), and headers older frameworks honour to override the path or the client address:
none of them crosses the gateway, and the decision endpoint refuses them (its front proxy would pass them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import Stack, start_stack

LEAD = "/espo-key/api/v1/Lead"
FOLDED = [
    "X.Civi.Auth",
    "X.Api.Key",
    "x.api-key",
    "X-Api.Key",
    "Espo.Authorization",
    "Espo.Authorization.By.Token",
    "X.Hmac.Authorization",
    "X.Civi.Key",
    "X.Another.User",
    "X.Forwarded.For",
    "X.Request.ID",
    "X.Requested.With",
    "Content.Length",
]
SPOOFING = ["X-Original-URL", "X-Rewrite-URL", "Client-IP", "True-Client-IP", "X-Client-IP", "X.Original.URL"]


@pytest.fixture
async def stack(aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path) -> Stack:
    return await start_stack(aiohttp_server, aiohttp_client, tmp_path)


async def test_folded_and_spoofing_headers_never_reach_the_upstream(stack: Stack) -> None:
    sent = {name: "client-value-1" for name in FOLDED + SPOOFING if name != "Content.Length"}
    resp = await stack.client.get(LEAD, headers={**stack.bearer(), **sent, "X-Keep-Me": "yes"})
    assert resp.status == 200, await resp.text()
    seen = stack.espo_received[-1].headers
    leaked = [name for name in seen if seen[name] == "client-value-1"]
    assert not leaked
    assert seen["X-Keep-Me"] == "yes"
