"""The credential breaker: an EspoCRM that keeps answering 401 to one identity's key stops being asked,
so the gateway's IP is never locked out, and asking resumes once the key works again."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from gateway.sandbox.espocrm import ESPO_AUTH, ESPO_CONFIG, EspoUser
from tests.support.stack import Stack, espo_sandbox_config, start_stack

LEAD = "/espo-key/api/v1/Lead"
COOLDOWN_S = 0.5
FAILURES = 3
OLD_KEY = "5f4dcc3b5aa765d61d8327deb882cf99"  # what the gateway holds for svc-bad
NEW_KEY = "0d107d09f5bbe40cade3de5c71e9e9b7"  # what EspoCRM now expects
POLICY = """
policy: allow-both
subjects: {principals: [svc-test, svc-bad]}
entities:
  "*": {default: allow}
"""
BAD_IDENTITY = """
  - match: {sub: svc-bad}
    espo-key: {api_key: '${env:ESPO_BAD_KEY}'}
"""


@pytest.fixture
async def stack(aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path) -> Stack:
    espo = espo_sandbox_config()
    espo.users.append(EspoUser(id="u-rotated", user_name="rotated", auth_method="ApiKey", api_key=NEW_KEY))
    return await start_stack(
        aiohttp_server,
        aiohttp_client,
        tmp_path,
        policies={"allow-both": POLICY},
        espo_config=espo,
        environ={"ESPO_BAD_KEY": OLD_KEY},
        identities_extra=BAD_IDENTITY,
        upstream_extra={"espo-key": f"breaker: {{failures: {FAILURES}, cooldown_seconds: {COOLDOWN_S}}}"},
    )


def breaker_state(stack: Stack) -> float:
    return stack.metric("crmgw_breaker_state", upstream="espo-key", identity_index="1")


def trips(stack: Stack) -> float:
    return stack.metric("crmgw_breaker_trips_total", upstream="espo-key")


async def get(stack: Stack, sub: str) -> tuple[int, dict[str, str], str]:
    resp = await stack.client.get(LEAD, headers=stack.bearer(sub))
    return resp.status, dict(resp.headers), await resp.text()


def paused(answer: tuple[int, dict[str, str], str]) -> bool:
    status, headers, body = answer
    return (
        status == 503
        and json.loads(body)["reason"] == "upstream-credential-rejected"
        and "refusing the gateway's credential" in headers["X-Status-Reason"]
        and headers["Retry-After"] == "1"
    )


def breaker_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "gateway.breaker"]


async def test_breaker_opens_pauses_probes_and_closes(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gateway")
    espo_auth = stack.espo.app[ESPO_AUTH]

    # FAILURES consecutive 401s open the breaker for svc-bad (identity #1)
    assert [(await get(stack, "svc-bad"))[0] for _ in range(FAILURES)] == [401] * FAILURES
    assert breaker_state(stack) == 1 and trips(stack) == 1
    [opened] = breaker_lines(caplog)
    assert "open" in opened and "espo-key" in opened and "#1" in opened and OLD_KEY not in opened

    # paused: refused in Espo's dialect without asking EspoCRM
    sent = len(stack.espo_received)
    assert all([paused(await get(stack, "svc-bad")) for _ in range(5)])
    assert len(stack.espo_received) == sent
    assert stack.metric("crmgw_upstream_rejected_total", upstream="espo-key", reason="breaker_open") == 5
    # another identity on the same upstream is not affected
    assert (await get(stack, "svc-test"))[0] == 200

    # after the cool-down one probe goes through; still refused: open again at once
    await asyncio.sleep(COOLDOWN_S + 0.05)
    assert (await get(stack, "svc-bad"))[0] == 401
    assert paused(await get(stack, "svc-bad"))
    assert breaker_state(stack) == 1 and trips(stack) == 2

    # EspoCRM takes the key again; while the (slow) probe is out, others are still paused
    espo_auth.user_by_name("rotated").api_key = OLD_KEY  # type: ignore[union-attr]
    await asyncio.sleep(COOLDOWN_S + 0.05)
    stack.set_espo_delay(0.5)
    sent = len(stack.espo_received)
    probe = asyncio.ensure_future(get(stack, "svc-bad"))
    while len(stack.espo_received) == sent:  # the probe has reached EspoCRM
        await asyncio.sleep(0.005)
    assert breaker_state(stack) == 2  # half-open
    others = await asyncio.gather(*(get(stack, "svc-bad") for _ in range(3)))
    assert all(paused(answer) for answer in others)
    assert (await probe)[0] == 200
    assert len(stack.espo_received) == sent + 1
    assert breaker_state(stack) == 0 and trips(stack) == 2
    stack.set_espo_delay(0)
    assert [(await get(stack, "svc-bad"))[0] for _ in range(FAILURES + 1)] == [200] * (FAILURES + 1)

    lines = breaker_lines(caplog)
    assert [line.split(":")[0] for line in lines] == [
        "breaker open",
        "breaker half-open",
        "breaker open",
        "breaker half-open",
        "breaker closed",
    ]
    assert all(OLD_KEY not in line and NEW_KEY not in line for line in lines)
    # EspoCRM saw FAILURES + 1 bad logins from the gateway: far from its lockout
    assert espo_auth.failed_logins("127.0.0.1") == FAILURES + 1
    assert stack.espo.app[ESPO_CONFIG].max_failed_logins > FAILURES + 1
    assert stack.metric("crmgw_upstream_auth_rejections_total", upstream="espo-key") == FAILURES + 1


async def test_a_burst_of_bad_requests_never_reaches_the_lockout(stack: Stack) -> None:
    espo_auth = stack.espo.app[ESPO_AUTH]
    limit = stack.espo.app[ESPO_CONFIG].max_failed_logins
    # requests already on their way when the breaker opens still reach EspoCRM; nothing after them does
    answers = await asyncio.gather(*(get(stack, "svc-bad") for _ in range(limit - 2)))
    answers += [await get(stack, "svc-bad") for _ in range(3 * limit)]
    rejected = [status for status, _, _ in answers].count(401)
    assert FAILURES <= rejected <= limit - 2
    assert sum(paused(a) for a in answers) == len(answers) - rejected
    assert espo_auth.failed_logins("127.0.0.1") == rejected
    assert (await get(stack, "svc-test"))[0] == 200  # the gateway's IP is not locked out
    assert trips(stack) == 1
