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
from gateway.decision.endpoint import decision
from gateway.dispatch import app_paths, pinned_paths
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


DECISION = """decision:
  trusted_proxies: [127.0.0.1/32]
  upstreams: [espo-key]
"""
ASKED = {"X-Original-Method": "GET", "X-Original-URI": LEADS + "?maxSize=2"}
DECISION_CASES: list[tuple[str, str, str, dict[str, str], bytes]] = [
    ("decision: allowed", "GET", "/_crm_gateway/authz", ASKED, b""),
    ("decision: no token", "GET", "/_crm_gateway/authz", {**ASKED, "Authorization": ""}, b""),
    ("decision: incomplete", "GET", "/_crm_gateway/authz", {"X-Original-Method": "GET"}, b""),
    ("decision: other method", "POST", "/_crm_gateway/authz", ASKED, b""),
    ("decision: with expect", "POST", "/_crm_gateway/authz", {**ASKED, "Expect": "100-continue"}, b"x"),
    ("decision: suffix is proxied", "GET", "/_crm_gateway/authz/x", ASKED, b""),
    ("denial replay without a denial", "GET", "/_crm_gateway/authz/denial", {}, b""),
    ("proxied beside decision mode", "GET", LEADS + "?maxSize=2", {}, b""),
]


def _answer(status: int, headers: Any, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [(k, v) for k, v in headers.items() if k.lower() not in VARYING], body


async def _fetch(
    http: aiohttp.ClientSession, base: str, method: str, path: str, headers: dict[str, str], body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    async with http.request(method, base + path, headers=headers, data=body or None) as resp:
        return _answer(resp.status, resp.headers, await resp.read())


@pytest.mark.parametrize(("extra", "cases"), [("", CASES), (DECISION, DECISION_CASES)])
async def test_the_dispatcher_answers_as_the_routed_app(
    aiohttp_server: Any,
    aiohttp_client: Any,
    tmp_path: Path,
    extra: str,
    cases: list[tuple[str, str, str, dict[str, str], bytes]],
) -> None:
    stack = await start_stack(aiohttp_server, aiohttp_client, tmp_path, extra=extra)
    port = free_port()
    text = config_text(
        str(stack.civi.make_url("")).rstrip("/"),
        str(stack.espo.make_url("")).rstrip("/"),
        stack.key,
        extra=extra,
    ).replace("port: 0", f"port: {port}")
    config = load_config_text(text, str(tmp_path / "gateway.yaml"), ENV)
    routed = str(stack.client.make_url("")).rstrip("/")
    dispatched = f"http://127.0.0.1:{port}"
    token = stack.bearer()["Authorization"]
    async with served(config), aiohttp.ClientSession() as http:
        for name, method, path, more, body in cases:
            headers = {"Authorization": token, "X-Request-ID": f"req-{len(name)}-dispatch", **more}
            headers = {k: v for k, v in headers.items() if v}
            want = await _fetch(http, routed, method, path, headers, body)
            got = await _fetch(http, dispatched, method, path, headers, body)
            assert got == want, name
            if name.endswith("allowed"):
                assert got[0] == 200 and ("X-Crm-Upstream", "espo-key") in got[1], got


def test_the_app_owns_its_plain_paths_and_the_rest_is_the_proxy_route(tmp_path: Path) -> None:
    assert app_paths(_app(tmp_path)) == frozenset({"/healthz", "/readyz", "/metrics"})
    assert pinned_paths(_app(tmp_path)) == {}


def test_the_decision_endpoint_is_dispatched_with_a_pinned_runtime(tmp_path: Path) -> None:
    app = _app(tmp_path, DECISION)
    owned = app_paths(app)
    assert owned is not None and {"/_crm_gateway/authz", "/_crm_gateway/authz/denial"} <= owned
    assert pinned_paths(app) == {"/_crm_gateway/authz": decision}


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


def _app(tmp_path: Path, extra: str = "") -> web.Application:
    (tmp_path / "policies").mkdir(exist_ok=True)
    (tmp_path / "policies" / "allow.yaml").write_text(ALLOW_ALL)
    text = config_text("http://127.0.0.1:1", "http://127.0.0.1:2", make_key("ES256"), extra=extra)
    return build_app(load_config_text(text, str(tmp_path / "gateway.yaml"), ENV))
