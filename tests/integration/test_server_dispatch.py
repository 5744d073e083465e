"""The listener's dispatcher (gateway/dispatch.py) answers exactly as the app's own routing does.

The same config is served twice: by aiohttp's routing (the test stack) and by ``run_server`` (the
dispatcher in front of the same app). Every request below gets the same status, headers and body from
both, whether it is proxied, refused, one of the gateway's own endpoints or carries ``Expect``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.app import build_app
from gateway.config.loader import load_config_text
from gateway.dispatch import app_paths
from gateway.pipeline import handle
from tests.support.jwt_factory import make_key
from tests.support.ports import free_port
from tests.support.serving import served
from tests.support.stack import ALLOW_ALL, ENV, config_text, start_stack

VARYING = frozenset({"date"})
LEADS = "/espo-key/api/v1/Lead"

CASES: list[tuple[str, str, str, dict[str, str], bytes]] = [
    ("proxied", "GET", LEADS + "?maxSize=2", {}, b""),
    ("proxied with a query to drop", "GET", LEADS + "?maxSize=1&api_key=x", {}, b""),
    ("no token", "GET", LEADS, {"Authorization": ""}, b""),
    ("no route", "GET", "/nowhere/at/all", {}, b""),
    ("own endpoint", "GET", "/healthz", {}, b""),
    ("own endpoint, readiness", "GET", "/readyz", {}, b""),
    ("own path, other method: proxied", "POST", "/healthz", {}, b"x=1"),
    ("own path with a suffix: proxied", "GET", "/healthz/more", {}, b""),
    ("expect that cannot be met", "POST", LEADS, {"Expect": "something-else"}, b"{}"),
    ("expect 100-continue", "PUT", LEADS + "/no-such-id", {"Expect": "100-continue"}, b"{}"),
    ("malformed percent-encoding", "GET", "/espo-key/api/v1/Le%zzad", {}, b""),
]


def _answer(status: int, headers: Any, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [(k, v) for k, v in headers.items() if k.lower() not in VARYING], body


async def _fetch(
    http: aiohttp.ClientSession, base: str, method: str, path: str, headers: dict[str, str], body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    async with http.request(method, base + path, headers=headers, data=body or None) as resp:
        return _answer(resp.status, resp.headers, await resp.read())


async def test_the_dispatcher_answers_as_the_routed_app(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    stack = await start_stack(aiohttp_server, aiohttp_client, tmp_path)
    port = free_port()
    text = config_text(
        str(stack.civi.make_url("")).rstrip("/"), str(stack.espo.make_url("")).rstrip("/"), stack.key
    ).replace("port: 0", f"port: {port}")
    config = load_config_text(text, str(tmp_path / "gateway.yaml"), ENV)
    routed = str(stack.client.make_url("")).rstrip("/")
    dispatched = f"http://127.0.0.1:{port}"
    token = stack.bearer()["Authorization"]
    async with served(config), aiohttp.ClientSession() as http:
        for name, method, path, extra, body in CASES:
            headers = {"Authorization": token, "X-Request-ID": f"req-{len(name)}-dispatch", **extra}
            headers = {k: v for k, v in headers.items() if v}
            want = await _fetch(http, routed, method, path, headers, body)
            got = await _fetch(http, dispatched, method, path, headers, body)
            assert got == want, name


def test_the_app_owns_its_plain_paths_and_the_rest_is_the_proxy_route(tmp_path: Path) -> None:
    assert app_paths(_app(tmp_path)) == frozenset({"/healthz", "/readyz", "/metrics"})


@pytest.mark.parametrize("proxies", [True, False])
def test_any_other_route_sends_every_request_through_the_app(tmp_path: Path, proxies: bool) -> None:
    app = _app(tmp_path)
    app.router.add_get("/extra/{name}", handle if proxies else _other)
    assert app_paths(app) is None


def test_an_app_without_the_proxy_route_is_not_dispatched() -> None:
    app = web.Application()
    app.router.add_get("/healthz", _other)
    assert app_paths(app) is None


async def _other(request: web.Request) -> web.Response:
    return web.Response(text="other")


def _app(tmp_path: Path) -> web.Application:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "allow.yaml").write_text(ALLOW_ALL)
    text = config_text("http://127.0.0.1:1", "http://127.0.0.1:2", make_key("ES256"))
    return build_app(load_config_text(text, str(tmp_path / "gateway.yaml"), ENV))
