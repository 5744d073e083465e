"""One admission for every entry point: the same table of requests through proxy mode (on one gateway) and
through the decision endpoint (on a second gateway with the same configuration) gets the same decisions,
the same upstream request (what the sandbox received / what the decision tells the front proxy to send) and
the same records (access log lines and metrics).

The policies exercise every stage: a record scope by claim, a field rule, a shadow policy, a rate limit,
and a credential breaker opened beforehand by proxy-mode traffic on both gateways."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from yarl import URL

from gateway.decision import contract
from gateway.decision.denial import decode
from tests.integration.test_decision_support import Answer, send
from tests.support.stack import Stack, metric_samples, start_stack

UPSTREAMS = ("civi-jwt", "espo-key", "espo-hmac", "espo-basic")
DECISION = f"""decision:
  trusted_proxies: [127.0.0.1/32]
  upstreams: [{", ".join(UPSTREAMS)}]
"""
POLICIES = {
    "main": f"""
policy: main
subjects: {{principals: [svc-test]}}
upstreams: [{", ".join(UPSTREAMS)}]
entities:
  Contact: {{get: allow, read: allow}}
  Email: {{get: allow}}
  Lead: {{read: allow}}
  Account: {{read: allow}}
fields:
  Contact: {{allow: [api_key]}}
scope:
  Contact: {{field: id, claim: contact_ids}}
limits:
  - {{name: accounts, entity: Account, rate: 1/hour}}
""",
    "no-email-shadow": """
policy: no-email-shadow
mode: shadow
subjects: {principals: [svc-test]}
entities:
  Email: {default: deny}
""",
}
V4 = "/civi-jwt/civicrm/ajax/api4"


def params(value: Any) -> str:
    return quote(json.dumps(value, separators=(",", ":")), safe="")


@dataclass(frozen=True)
class Case:
    target: str
    claims: Mapping[str, Any]


CASES = {
    "scoped-unscoped-get": Case(
        f"{V4}/Contact/get?params={params({'select': ['id']})}", {"contact_ids": [42]}
    ),
    "scoped-get-own-where": Case(
        f"{V4}/Contact/get?params={params({'where': [['id', '>', 0]]})}", {"contact_ids": [2, 42]}
    ),
    "scope-claim-missing": Case(f"{V4}/Contact/get", {}),
    "scope-join": Case(
        f"{V4}/Email/get?params={params({'join': [['Contact AS c', 'LEFT']]})}", {"contact_ids": [42]}
    ),
    "field-rule": Case(f"{V4}/Email/get?params={params({'select': ['api_key']})}", {"contact_ids": [42]}),
    "shadow-deny": Case(f"{V4}/Email/get", {}),
    "default-deny": Case(f"{V4}/Activity/get", {}),
    "espo-read": Case("/espo-key/api/v1/Lead?maxSize=1&select=name", {}),
    "espo-hmac-read": Case("/espo-hmac/api/v1/Lead?maxSize=1", {}),
    "limit-first": Case("/espo-key/api/v1/Account", {}),
    "limit-second": Case("/espo-key/api/v1/Account", {}),
    "breaker-open": Case("/espo-basic/api/v1/Lead", {}),
    "no-token": Case("/espo-key/api/v1/Lead", {"no-token": True}),
}
RECORDED = ("decision", "rule", "shadow", "operations", "status", "reason", "principal", "upstream", "route")
"""Access-log fields both modes must agree on (ids, timings and byte counts differ by nature)."""
METRICS = (
    "crmgw_requests_total",
    "crmgw_policy_denials_total",
    "crmgw_ratelimited_total",
    "crmgw_auth_failures_total",
    "crmgw_upstream_rejected_total",
    "crmgw_breaker_trips_total",
)
SET_BY_GATEWAY = ("X-Civi-Auth", "X-Civi-Key", "X-Api-Key", "X-Hmac-Authorization", "Authorization")


async def gateway(aiohttp_server: Any, aiohttp_client: Any, path: Path, now: float) -> Stack:
    """``now``: both gateways' wall clock, frozen, so the CRM tokens they mint carry the same exp (on
    the real clock the two modes' requests can fall on either side of a second's boundary)."""
    path.mkdir()
    return await start_stack(
        aiohttp_server,
        aiohttp_client,
        path,
        policies=POLICIES,
        extra=DECISION,
        upstream_extra={"espo-basic": "breaker: {failures: 2, cooldown_seconds: 600}"},
        environ={"ESPO_PASSWORD": "not-the-password"},
        clock=lambda: now,
    )


def headers_for(stack: Stack, case: Case) -> dict[str, str]:
    if case.claims.get("no-token"):
        return {}
    return stack.bearer(**case.claims)


async def open_breaker(stack: Stack) -> None:
    """Proxy-mode traffic the CRM refuses (a wrong password) opens the breaker, on both gateways alike."""
    for _ in range(2):
        resp = await stack.client.get("/espo-basic/api/v1/Lead", headers=stack.bearer())
        assert resp.status == 401


@dataclass(frozen=True)
class Outcome:
    status: int
    reason: str | None
    target: str | None
    credentials: dict[str, str]


async def through_proxy(stack: Stack, case: Case) -> Outcome:
    civi, espo = len(stack.civi_received), len(stack.espo_received)
    resp = await stack.client.get(URL(case.target, encoded=True), headers=headers_for(stack, case))
    body = await resp.read()
    new = [*stack.civi_received[civi:], *stack.espo_received[espo:]]
    if resp.status >= 400 and not new:
        return Outcome(resp.status, Answer(resp.status, resp.headers, body).reason, None, {})
    [sent] = new
    credentials = {name: sent.headers.get(name, "") for name in SET_BY_GATEWAY}
    return Outcome(resp.status, None, sent.path_qs, credentials)


async def through_decision(stack: Stack, case: Case) -> Outcome:
    asked = {**headers_for(stack, case), "X-Original-Method": "GET", "X-Original-URI": case.target}
    answer = await send(str(stack.client.make_url("")).rstrip("/"), "GET", "/_crm_gateway/authz", asked)
    if contract.DENIAL in answer.headers:
        denial = decode(answer.headers[contract.DENIAL])
        replayed = Answer(denial.status, answer.headers, denial.body)
        return Outcome(denial.status, replayed.reason, None, {})
    assert answer.status == 200, answer.body
    credentials = {name: answer.headers[contract.set_header(name)] for name in SET_BY_GATEWAY}
    return Outcome(200, None, answer.headers[contract.URI], credentials)


def access_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [
        {k: line.get(k) for k in RECORDED} for line in lines if "request_id" in line and "decision" in line
    ]


def metrics(stack: Stack) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    text = stack.metrics_text()
    return {name: metric_samples(text, name) for name in METRICS}


async def test_every_stage_decides_alike_in_proxy_mode_and_decision_mode(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = time.time()
    proxy = await gateway(aiohttp_server, aiohttp_client, tmp_path / "proxy", now)
    decision = await gateway(aiohttp_server, aiohttp_client, tmp_path / "decision", now)
    await open_breaker(proxy)
    await open_breaker(decision)
    capsys.readouterr()

    proxied = {name: await through_proxy(proxy, case) for name, case in CASES.items()}
    proxy_lines = access_lines(capsys)
    decided = {name: await through_decision(decision, case) for name, case in CASES.items()}
    decision_lines = access_lines(capsys)

    for name in CASES:
        assert decided[name] == proxied[name], name
    assert decision_lines == proxy_lines
    assert metrics(decision) == metrics(proxy)

    # the table reaches every stage: not all allowed, not all refused, and each refusal for its own reason
    reasons = {name: outcome.reason for name, outcome in proxied.items()}
    assert reasons == {
        "scoped-unscoped-get": None,
        "scoped-get-own-where": None,
        "scope-claim-missing": "scope-claim-missing",
        "scope-join": "scope-unsupported",
        "field-rule": "policy-denied",
        "shadow-deny": None,
        "default-deny": "policy-denied",
        "espo-read": None,
        "espo-hmac-read": None,
        "limit-first": None,
        "limit-second": "rate-limited",
        "breaker-open": "upstream-credential-rejected",
        "no-token": "missing-token",
    }
    scoped = json.loads(URL(proxied["scoped-unscoped-get"].target or "").query["params"])
    assert scoped["where"] == [["id", "IN", [42]]]
    assert [line["decision"] for line in proxy_lines if line["operations"] == ["Email.get"]] == [
        "deny",  # field-rule
        "shadow-deny",
    ]
    assert proxied["espo-hmac-read"].credentials["X-Hmac-Authorization"]
