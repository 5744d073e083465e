"""The framework floor (bench/passthrough.py) forwards what the gateway is compared on: a v3 chain's
form body reaches the upstream whole, with its Content-Type, and the answer comes back as sent."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from yarl import URL

from bench import scenarios
from bench.passthrough import build_app


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    seen = {
        "method": request.method,
        "path": request.raw_path,
        "content_type": request.headers.get("Content-Type"),
        "content_length": request.headers.get("Content-Length"),
        "authorization": request.headers.get("Authorization"),
        "body": body.decode(),
    }
    return web.json_response(seen, headers={"X-Upstream": "echo"})


async def test_a_v3_chain_post_reaches_the_upstream_with_its_form_body(
    aiohttp_server: Any, aiohttp_client: Any
) -> None:
    upstream = web.Application()
    upstream.router.add_route("*", "/{tail:.*}", echo)
    server = await aiohttp_server(upstream)
    client = await aiohttp_client(build_app(str(server.make_url("")).rstrip("/")))
    load = scenarios.CIVI_V3_CHAIN.load("t0ken", via_gateway=False)
    resp = await client.request(load.method, load.path, headers=load.headers, data=load.body.encode())
    assert resp.status == 200 and resp.headers["X-Upstream"] == "echo"
    seen = json.loads(await resp.text())
    assert seen == {
        "method": "POST",
        "path": "/civicrm/ajax/rest",
        "content_type": "application/x-www-form-urlencoded",
        "content_length": str(len(load.body.encode())),
        "authorization": "Bearer t0ken",
        "body": load.body,
    }


async def test_a_get_carries_its_query_and_no_body(aiohttp_server: Any, aiohttp_client: Any) -> None:
    upstream = web.Application()
    upstream.router.add_route("*", "/{tail:.*}", echo)
    server = await aiohttp_server(upstream)
    client = await aiohttp_client(build_app(str(server.make_url("")).rstrip("/")))
    load = scenarios.CIVI_V4.load("t0ken", via_gateway=False)
    resp = await client.get(load.path, headers=load.headers)
    seen = json.loads(await resp.text())
    assert (seen["method"], seen["body"]) == ("GET", "")
    # aiohttp's client requotes the target (``:`` and ``,`` unescaped): the same query once decoded
    assert URL(seen["path"]).query == URL(load.path).query
    assert URL(seen["path"]).path == URL(load.path).path
