"""The decision endpoint spoken to directly, as a front proxy would: what it answers, what it refuses, and
that it never forwards anything. Needs no nginx or Caddy: a step plays the front proxy's part."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.decision import contract
from gateway.decision.denial import decode
from tests.integration.test_decision_support import DECISION, POLICIES, Answer, send
from tests.support.stack import ESPO_API_KEY, Stack, start_stack

AUTHZ = "/_crm_gateway/authz"
LEAD = "/espo-key/api/v1/Lead?maxSize=1"


@pytest.fixture
async def stack(aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path) -> Stack:
    return await start_stack(
        aiohttp_server,
        aiohttp_client,
        tmp_path,
        policies=POLICIES,
        extra=DECISION,
        upstream_extra={"espo-basic": "breaker: {failures: 2, cooldown_seconds: 60}"},
        environ={"ESPO_PASSWORD": "not-the-password"},
    )


def base(stack: Stack) -> str:
    return str(stack.client.make_url("")).rstrip("/")


async def ask(
    stack: Stack, method: str, uri: str, *, style: str = "nginx", bearer: bool = True, **headers: str
) -> Answer:
    sent = {**(stack.bearer() if bearer else {}), **headers}
    if style == "nginx":
        sent.update({"X-Original-Method": method, "X-Original-URI": uri})
    else:
        sent.update({"X-Forwarded-Method": method, "X-Forwarded-Uri": uri, "X-Forwarded-Host": "127.0.0.1"})
    return await send(base(stack), "GET", AUTHZ, sent)


def refusal(answer: Answer) -> tuple[int, str | None]:
    """The status and reason the client would see, whichever way the refusal came."""
    if contract.DENIAL in answer.headers:
        denial = decode(answer.headers[contract.DENIAL])
        assert answer.status == denial.auth_request_status
        return denial.status, Answer(denial.status, answer.headers, denial.body).reason
    return answer.status, answer.reason


async def test_an_allowed_read_is_answered_with_what_to_forward(stack: Stack) -> None:
    answer = await ask(
        stack, "GET", LEAD + f"&api_key={stack.token()}", bearer=False, **{"X-Request-ID": "req-0123456789"}
    )
    assert answer.status == 200, answer.body
    assert answer.body == b""
    h = answer.headers
    assert h[contract.UPSTREAM] == "espo-key"
    assert (h[contract.PATH], h[contract.QUERY]) == ("/api/v1/Lead", "maxSize=1")
    assert h[contract.URI] == "/api/v1/Lead?maxSize=1"
    assert h[contract.set_header("X-Api-Key")] == ESPO_API_KEY
    assert h[contract.set_header("X-Request-ID")] == "req-0123456789"
    assert h[contract.reply_header("X-Request-ID")] == "req-0123456789"
    for name in contract.SETTABLE:  # every name is there, the unused ones empty
        assert contract.set_header(name) in h
    assert h[contract.set_header("Authorization")] == ""
    assert stack.received() == []


async def test_playing_the_front_proxy_with_the_answer_satisfies_each_crm(stack: Stack) -> None:
    for upstream, uri, origin in (
        ("espo-hmac", "/espo-hmac/api/v1/Lead/a(b)!", stack.espo),
        ("espo-token", "/espo-token/api/v1/Lead", stack.espo),
        ("civi-jwt", "/civi-jwt/civicrm/ajax/api4/Contact/get", stack.civi),
    ):
        answer = await ask(stack, "GET", uri)
        assert answer.status == 200, (upstream, answer.body)
        headers = {
            name: answer.headers[contract.set_header(name)]
            for name in contract.SETTABLE
            if answer.headers[contract.set_header(name)]
        }
        crm = await send(str(origin.make_url("")).rstrip("/"), "GET", answer.headers[contract.URI], headers)
        assert crm.status in (200, 404), (upstream, crm.status, crm.body[:200])  # 404: no such record


@pytest.mark.parametrize(
    ("method", "uri", "extra", "status", "reason"),
    [
        ("POST", "/civi-jwt/civicrm/ajax/api4/Contact/get", {}, 403, "body-required"),
        ("POST", "/civi-jwt/civicrm/ajax/api4", {}, 403, "body-required"),
        ("POST", "/espo-key/api/v1/MassAction", {}, 403, "body-required"),
        ("PUT", "/espo-key/api/v1/Lead/l1", {}, 403, "body-required"),
        ("POST", "/espo-key/api/v1/Export", {}, 403, "body-required"),
        ("GET", "/espo-key/api/v1/Lead", {"X-Original-Content-Length": "7"}, 403, "body-required"),
        ("GET", "/espo-key/api/v1/Lead", {"X-Original-Transfer-Encoding": "chunked"}, 403, "body-required"),
        ("GET", "/civi-keys/civicrm/ajax/api4/Contact/get", {}, 403, "decision-not-enabled"),
        ("GET", "/civi-jwt-param/civicrm/ajax/api4/Contact/get", {}, 403, "decision-not-enabled"),
        ("GET", "/nowhere/at/all", {}, 404, "no-route"),
        ("GET", "/espo-key/api/v1/Lead", {"X-Crm-Upstream": "espo-basic"}, 400, "reserved-header"),
        ("GET", "/espo-key/api/v1/Lead", {"X-Hmac-Whatever": "x"}, 400, "credential-header"),
        ("GET", "/espo-key/api/v1/Lead", {"Authorization": "Bearer not-a-jwt"}, 401, "malformed-token"),
    ],
)
@pytest.mark.parametrize("style", ["nginx", "forward-auth"])
async def test_refusals(
    stack: Stack, style: str, method: str, uri: str, extra: dict[str, str], status: int, reason: str
) -> None:
    answer = await ask(stack, method, uri, style=style, bearer=True, **extra)
    assert refusal(answer) == (status, reason), answer.body
    if style == "nginx":
        assert answer.status in (401, 403) and answer.body == b""
    assert contract.UPSTREAM not in answer.headers
    assert stack.received() == []


async def test_an_nginx_refusal_is_replayed_as_the_client_should_see_it(stack: Stack) -> None:
    uri = "/espo-key/api/v1/Lead"
    rid = {"X-Request-ID": "req-abcdefgh"}
    caddy_style = await ask(stack, "GET", uri, style="forward-auth", bearer=False, **rid)
    nginx_style = await ask(stack, "GET", uri, bearer=False, **rid)
    assert (caddy_style.status, caddy_style.reason, nginx_style.status) == (401, "missing-token", 401)
    replayed = await send(
        base(stack), "GET", AUTHZ + "/denial", {contract.DENIAL: nginx_style.headers[contract.DENIAL]}
    )
    assert (replayed.status, replayed.body) == (caddy_style.status, caddy_style.body)
    for name in ("Content-Type", "X-Status-Reason", "X-Request-ID", "WWW-Authenticate"):
        assert replayed.headers[name] == caddy_style.headers[name], name
    bad = await send(base(stack), "GET", AUTHZ + "/denial", {contract.DENIAL: "bm90IGpzb24"})
    assert (bad.status, bad.reason) == (400, "bad-denial")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Original-Method": "GET"},
        {"X-Original-Method": "GET", "X-Original-URI": "http://evil/espo-key/api/v1/Lead"},
        {"X-Original-Method": "G E T", "X-Original-URI": LEAD},
        {"X-Original-Method": "GET", "X-Original-URI": LEAD, "X-Forwarded-Uri": "/espo-key/api/v1/User"},
        {"X-Original-Method": "GET", "X-Original-URI": LEAD, "X-Forwarded-Method": "DELETE"},
    ],
)
async def test_a_request_the_front_proxy_did_not_describe_is_refused(
    stack: Stack, headers: dict[str, str]
) -> None:
    answer = await send(base(stack), "GET", AUTHZ, {**stack.bearer(), **headers})
    assert (answer.status, answer.reason) == (400, "decision-request-incomplete")
    assert stack.received() == []


async def test_a_breaker_opened_in_proxy_mode_holds_in_decision_mode(stack: Stack) -> None:
    # espo-basic's identity has a wrong password: two 401s through proxy mode open its breaker.
    for _ in range(2):
        resp = await stack.client.get("/espo-basic/api/v1/Lead", headers=stack.bearer())
        assert resp.status == 401
    answer = await ask(stack, "GET", "/espo-basic/api/v1/Lead", style="forward-auth")
    assert (answer.status, answer.reason) == (503, "upstream-credential-rejected")
    assert int(answer.headers["Retry-After"]) >= 1


async def test_without_a_decision_section_there_is_no_endpoint(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    stack = await start_stack(aiohttp_server, aiohttp_client, tmp_path)
    answer = await ask(stack, "GET", LEAD)
    assert (answer.status, answer.reason) == (404, "no-route")
    assert contract.UPSTREAM not in answer.headers
