"""Forwarding hygiene: what the upstream receives, what the client gets back, and failures of the upstream."""

from __future__ import annotations

import hashlib
import io
import logging
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from gateway.keys import STATE
from gateway.sandbox.answer_modes import configure
from gateway.sandbox.espocrm import ESPO_CONFIG
from gateway.sandbox.espocrm_routes import attachment_content
from tests.support.stack import CIVI_SCHEMES, ESPO_SCHEMES, SECRETS, Stack, start_stack

LEAD = "/espo-key/api/v1/Lead"


@pytest.fixture
async def stack(aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path) -> Stack:
    return await start_stack(
        aiohttp_server,
        aiohttp_client,
        tmp_path,
        upstream_extra={
            "espo-hmac-raw": "timeouts: {read_seconds: 0.3, total_seconds: 1}\nmax_body_bytes: 1024"
        },
    )


async def test_client_credentials_and_spoofable_headers_never_reach_the_upstream(stack: Stack) -> None:
    headers = {
        **stack.bearer(),
        "X-Civi-Key": "client-site-key",
        "X-Civi-Site-Key": "client-site-key",
        "X-Another-User": "admin",
        "Espo-Authorization": "YWRtaW46YWRtaW4=",
        "Espo-Authorization-By-Token": "true",
        "X-Hmac-Authorization": "forged",
        "Cookie": "auth-token=abc; auth-token-secret=def; SESSabc=1",
        "Http-Espo-Cgi-Auth": "Basic YWRtaW46YWRtaW4=",
        "X-Forwarded-For": "6.6.6.6",
        "X-Forwarded-Host": "evil",
        "X-HTTP-Method-Override": "DELETE",
        "Proxy-Authorization": "Basic eA==",
        "Connection": "keep-alive, X-Drop-Me",
        "X-Drop-Me": "hop",
        "X_Civi_Auth": "Bearer client-key",
        "X_Api_Key": "client-key",
        "X-Keep-Me": "yes",
        "X-Request-ID": "client-req-0001",
    }
    resp = await stack.client.get(LEAD, headers=headers)
    # the method override header is refused outright by the EspoCRM dialect
    assert resp.status == 400
    del headers["X-HTTP-Method-Override"]
    resp = await stack.client.get(LEAD, headers=headers)
    assert resp.status == 200, await resp.text()
    seen = {k.lower(): v for k, v in stack.espo_received[-1].headers.items()}
    for name in (
        "x-civi-key",
        "x-civi-site-key",
        "x-another-user",
        "espo-authorization",
        "espo-authorization-by-token",
        "x-hmac-authorization",
        "cookie",
        "http-espo-cgi-auth",
        "proxy-authorization",
        "x-drop-me",
        "authorization",
        "x_civi_auth",
        "x_api_key",
    ):
        assert name not in seen, name
    assert seen["x-api-key"] == "e69c94ab64c728e7639ec4296fa086c4"
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-host"] != "evil"
    assert seen["x-keep-me"] == "yes"
    assert seen["x-request-id"] == "client-req-0001"
    assert resp.headers["X-Request-ID"] == "client-req-0001"


async def test_invalid_request_id_is_replaced_and_echoed(stack: Stack) -> None:
    resp = await stack.client.get(LEAD, headers={**stack.bearer(), "X-Request-ID": "bad id with spaces"})
    rid = resp.headers["X-Request-ID"]
    assert rid != "bad id with spaces" and len(rid) >= 16
    assert stack.espo_received[-1].headers["X-Request-ID"] == rid


async def test_upstream_set_cookie_is_not_passed_to_the_client(stack: Stack) -> None:
    resp = await stack.client.get("/espo-basic/api/v1/App/user", headers=stack.bearer())
    assert resp.status == 200, await resp.text()
    assert "Set-Cookie" not in resp.headers


async def test_routing_by_host_header(stack: Stack) -> None:
    resp = await stack.client.get("/api/v1/Lead", headers={**stack.bearer(), "Host": "espo.example.test"})
    assert resp.status == 200, await resp.text()
    assert resp.headers["X-Sandbox-User-Id"] == "u-api"


async def test_upstream_timeout_is_504_in_dialect(stack: Stack) -> None:
    stack.set_espo_delay(1.5)
    resp = await stack.client.get("/espo-hmac-raw/api/v1/Lead", headers=stack.bearer())
    assert resp.status == 504
    assert resp.headers["X-Status-Reason"]
    assert (await resp.json())["reason"] == "upstream-timeout"


async def test_upstream_down_is_502_in_dialect(stack: Stack) -> None:
    await stack.civi.close()
    resp = await stack.client.get("/civi-jwt/civicrm/ajax/api4/Contact/get", headers=stack.bearer())
    assert resp.status == 502
    body = await resp.json()
    assert body["is_error"] == 1 and body["error_code"] == "upstream-unavailable"


async def test_request_body_over_the_limit_is_413(stack: Stack) -> None:
    resp = await stack.client.post(
        "/espo-hmac-raw/api/v1/Lead", json={"name": "x" * 4096}, headers=stack.bearer()
    )
    assert resp.status == 413
    assert stack.espo_received == []


async def test_a_50_mb_download_is_streamed_not_buffered(stack: Stack) -> None:
    size = 50 * 1024 * 1024
    stack.espo.app[ESPO_CONFIG].attachment_size = size
    digest = hashlib.sha256()
    tracemalloc.start()
    try:
        resp = await stack.client.get("/espo-key/api/v1/Attachment/file/att-1", headers=stack.bearer())
        assert resp.status == 200, await resp.text()
        received = 0
        async for chunk in resp.content.iter_chunked(256 * 1024):
            digest.update(chunk)
            received += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received == size
    assert digest.hexdigest() == hashlib.sha256(attachment_content(size)).hexdigest()
    assert peak < 16 * 1024 * 1024, f"peak traced memory {peak} bytes: the body was buffered"


async def test_no_secret_or_token_in_logs_or_error_bodies(
    stack: Stack, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = stack.token()
    bodies: list[str] = []
    requests = [
        ("GET", LEAD, {"X-Api-Key": token}),
        ("GET", LEAD, {"X-Api-Key": token[:-4] + "AAAA"}),
        (
            "GET",
            "/civi-keys/sites/all/modules/civicrm/extern/rest.php?entity=Contact&action=get&json=1&api_key="
            + token,
            {},
        ),
        ("GET", "/civi-jwt/civicrm/ajax/api4/Contact/get", {"X-Civi-Auth": f"Bearer {token}"}),
        ("GET", "/civi-jwt/civicrm/ajax/api4/Contact/delete", {"X-Civi-Auth": f"Bearer {token}x"}),
        (
            "GET",
            "/espo-hmac/api/v1/Lead",
            {"Authorization": f"Bearer {token}", "X-Api-Key": stack.token(sub="x")},
        ),
    ]
    for method, path, headers in requests:
        resp = await stack.client.request(method, path, headers=headers)
        text = await resp.text()
        if resp.status >= 400:
            bodies.append(text)
        bodies.append(str(dict(resp.headers)))
    out = capsys.readouterr()
    everything = out.out + out.err + caplog.text + "".join(bodies)
    assert '"request_id"' in out.out, "the access log wrote nothing"
    for secret in (*SECRETS, token):
        assert secret not in everything, everything[
            max(0, everything.find(secret) - 300) : everything.find(secret) + 100
        ]


ANSWER_SHAPES: list[dict[str, object]] = [
    {"redirect": True},
    {"html_error": True, "chunked": True},
    {"aliases": True, "chunked": True, "encoding": "gzip"},
    {"pad_bytes": 300 * 1024, "chunked": True},
]
"""Sandbox answer modes (gateway/sandbox/answer_modes.py) that echo what the gateway sent."""


def _path_for(upstream: str) -> str:
    if upstream.startswith("espo"):
        return f"/{upstream}/api/v1/Lead"
    if upstream == "civi-keys":
        return f"/{upstream}/sites/all/modules/civicrm/extern/rest.php?entity=Contact&action=get&json=1"
    return f"/{upstream}/civicrm/ajax/rest?entity=Contact&action=get&json=1"


@pytest.mark.parametrize("modes", ANSWER_SHAPES, ids=lambda m: "+".join(m))
async def test_no_secret_in_anything_any_upstream_answers_in_any_shape(
    stack: Stack, modes: dict[str, object]
) -> None:
    seen: list[str] = []
    for upstream in [*CIVI_SCHEMES, *ESPO_SCHEMES]:
        for app in (stack.civi.app, stack.espo.app):
            configure(app, **modes)
        resp = await stack.client.get(_path_for(upstream), headers=stack.bearer(), allow_redirects=False)
        body = await resp.read()
        assert resp.status in (200, 302, 500, 502), (upstream, resp.status, body[:200])
        seen.append(f"{upstream} {resp.status} {resp.reason}")
        seen += [f"{k.decode()}: {v.decode()}" for k, v in resp.raw_headers]
        seen.append(body.decode("utf-8", "replace"))
    everything = "\n".join(seen)
    assert len(stack.received()) == len(CIVI_SCHEMES) + len(ESPO_SCHEMES)  # no redirect was followed
    for secret in (*SECRETS, "admin-contact-key"):
        assert secret not in everything, secret[:6]


async def test_access_log_line_has_the_decision_and_operations(stack: Stack) -> None:
    buffer = io.StringIO()
    runtime = stack.app[STATE].runtime
    assert runtime is not None
    runtime.access_log._stream = buffer
    await stack.client.get(LEAD, headers=stack.bearer())
    import json

    line = json.loads(buffer.getvalue().strip().splitlines()[-1])
    assert line["upstream"] == "espo-key" and line["principal"] == "svc-test"
    assert line["operations"] == ["Lead.read"] and line["decision"] == "allow" and line["status"] == 200
