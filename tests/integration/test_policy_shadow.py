"""``mode: shadow`` end to end: a shadow policy is judged on every request but never decides one.

A shadow policy that would deny lets the request through (the sandbox answers) and its verdict is kept
on the request's exchange; a shadow policy that would allow grants nothing. The JSON access line (stdout)
records the enforced decision and rule.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import gateway.exchange
from gateway.exchange import Exchange
from tests.support.stack import Stack, start_stack

POLICIES = {
    "only-reads": """
policy: only-reads
subjects: {principals: [svc-test]}
entities:
  Contact: {get: allow}
  Email: {get: allow}
""",
    "no-email-shadow": """
policy: no-email-shadow
mode: shadow
subjects: {principals: [svc-test]}
entities:
  Email: {default: deny}
""",
    "activity-shadow": """
policy: activity-shadow
mode: shadow
subjects: {principals: [svc-test]}
entities:
  Activity: {default: allow}
""",
}
V4 = "/civi-jwt/civicrm/ajax/api4"


@pytest.fixture
async def stack(aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path) -> Stack:
    return await start_stack(aiohttp_server, aiohttp_client, tmp_path, policies=POLICIES)


@pytest.fixture
def exchanges(monkeypatch: pytest.MonkeyPatch) -> list[Exchange]:
    """Every finished request's exchange, seen where its access line is made from it."""
    seen: list[Exchange] = []
    original = gateway.exchange.access_line

    def spy(ex: Exchange, status: int, duration: float) -> str:
        seen.append(ex)
        return original(ex, status, duration)

    monkeypatch.setattr(gateway.exchange, "access_line", spy)
    return seen


def access_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [line for line in lines if "request_id" in line and "decision" in line]


async def test_a_shadow_denial_lets_the_request_through_and_is_recorded(
    stack: Stack, exchanges: list[Exchange], capsys: pytest.CaptureFixture[str]
) -> None:
    resp = await stack.client.post(f"{V4}/Email/get", data={"params": "{}"}, headers=stack.bearer())
    assert resp.status == 200, await resp.text()
    assert len(stack.civi_received) == 1
    assert resp.headers["X-Sandbox-Contact-Id"] == "42"
    [ex] = exchanges
    assert ex.shadow == ["no-email-shadow:entities.Email.default"]
    [line] = access_lines(capsys)
    assert (line["decision"], line["rule"], line["status"]) == (
        "shadow-deny",
        "only-reads:entities.Email.get",
        200,
    )
    assert line["operations"] == ["Email.get"]
    assert line["request_id"] == resp.headers["X-Request-ID"]


async def test_no_shadow_outcome_when_the_shadow_policy_agrees(
    stack: Stack, exchanges: list[Exchange], capsys: pytest.CaptureFixture[str]
) -> None:
    resp = await stack.client.post(f"{V4}/Contact/get", data={"params": "{}"}, headers=stack.bearer())
    assert resp.status == 200
    assert [ex.shadow for ex in exchanges] == [[]]
    [line] = access_lines(capsys)
    assert (line["decision"], line["rule"]) == ("allow", "only-reads:entities.Contact.get")


async def test_a_shadow_allow_grants_nothing(
    stack: Stack, exchanges: list[Exchange], capsys: pytest.CaptureFixture[str]
) -> None:
    resp = await stack.client.post(f"{V4}/Activity/get", data={"params": "{}"}, headers=stack.bearer())
    assert resp.status == 403
    assert (await resp.json())["error_code"] == "policy-denied"
    assert stack.civi_received == []
    [line] = access_lines(capsys)
    assert (line["decision"], line["rule"], line["status"]) == ("deny", "default-deny", 403)


async def test_a_shadow_denial_hidden_in_a_chain_is_seen(stack: Stack, exchanges: list[Exchange]) -> None:
    params = {"chain": {"emails": ["Email", "get", {"where": [["contact_id", "=", "$id"]]}]}}
    resp = await stack.client.post(
        f"{V4}/Contact/get", data={"params": json.dumps(params)}, headers=stack.bearer()
    )
    assert resp.status == 200
    assert [ex.shadow for ex in exchanges] == [["no-email-shadow:entities.Email.default"]]


async def test_the_access_line_records_the_shadow_denial(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    resp = await stack.client.post(f"{V4}/Email/get", data={"params": "{}"}, headers=stack.bearer())
    assert resp.status == 200
    [line] = access_lines(capsys)
    assert "no-email-shadow:entities.Email.default" in json.dumps(line.get("shadow"))


async def test_a_shadow_denial_is_counted_in_the_decision_label(stack: Stack) -> None:
    resp = await stack.client.post(f"{V4}/Email/get", data={"params": "{}"}, headers=stack.bearer())
    assert resp.status == 200
    text = stack.metrics_text()
    assert 'decision="shadow-deny"' in text
    line = next(
        x for x in text.splitlines() if 'decision="shadow-deny"' in x and x.startswith("crmgw_requests_total")
    )
    assert line.endswith(" 1.0")
