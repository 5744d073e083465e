"""Per-upstream concurrency caps with a bounded wait queue, against a slow sandbox CRM."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from gateway.proxy.guard import ConcurrencyGuard
from tests.support.stack import Stack, start_stack

REST = "/civi-keys/sites/all/modules/civicrm/extern/rest.php?entity=Contact&action=get"
V3_JSON = REST + "&json=1"
V4 = "/civi-jwt/civicrm/ajax/api4/Contact/get"
ESPO = "/espo-key/api/v1/Lead"

LIMIT, QUEUE, EXTRA = 3, 2, 4
DELAY_S = 0.25


def capped(queue_timeout: float = 5.0) -> str:
    return (
        f"limits: {{max_concurrency: {LIMIT}, queue_size: {QUEUE}, queue_timeout_seconds: {queue_timeout}}}"
    )


async def capped_stack(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, queue_timeout: float = 5.0
) -> Stack:
    cap = capped(queue_timeout)
    stack = await start_stack(
        aiohttp_server,
        aiohttp_client,
        tmp_path,
        upstream_extra={"civi-keys": cap, "civi-jwt": cap, "espo-key": cap},
    )
    stack.set_civi_delay(DELAY_S)
    stack.set_espo_delay(DELAY_S)
    return stack


def v3_json_refusal(body: str, headers: Any) -> str:
    data = json.loads(body)
    assert data["is_error"] == 1
    return str(data["error_code"])


def v3_xml_refusal(body: str, headers: Any) -> str:
    result = ElementTree.fromstring(body).find("Result")
    assert result is not None and result.findtext("is_error") == "1"
    return result.findtext("error_code") or ""


def v4_refusal(body: str, headers: Any) -> str:
    data = json.loads(body)
    assert data["status"] == 503 and data["is_error"] == 1
    return str(data["error_code"])


def espo_refusal(body: str, headers: Any) -> str:
    assert "busy" in headers["X-Status-Reason"]
    return str(json.loads(body)["reason"])


DIALECTS = pytest.mark.parametrize(
    ("path", "reason_of", "received"),
    [
        (V3_JSON, v3_json_refusal, "civi"),
        (REST, v3_xml_refusal, "civi"),
        (V4, v4_refusal, "civi"),
        (ESPO, espo_refusal, "espo"),
    ],
    ids=["v3-json", "v3-xml", "v4", "espo"],
)


async def burst(stack: Stack, path: str, count: int) -> list[tuple[int, str, Any]]:
    async def one() -> tuple[int, str, Any]:
        resp = await stack.client.get(path, headers=stack.bearer())
        return resp.status, await resp.text(), resp.headers

    return await asyncio.gather(*(one() for _ in range(count)))


def gauges(stack: Stack, upstream: str) -> tuple[float, float]:
    return (
        stack.metric("crmgw_inflight_requests", upstream=upstream),
        stack.metric("crmgw_queued_requests", upstream=upstream),
    )


@DIALECTS
async def test_limit_plus_queue_admitted_the_rest_503_in_dialect(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, path: str, reason_of: Any, received: str
) -> None:
    stack = await capped_stack(aiohttp_server, aiohttp_client, tmp_path)
    upstream = path.split("/")[1]
    task = asyncio.ensure_future(burst(stack, path, LIMIT + QUEUE + EXTRA))
    # while the first LIMIT are at the slow CRM, the gauges show the slots and the queue
    for _ in range(100):
        if gauges(stack, upstream) == (LIMIT, QUEUE):
            break
        await asyncio.sleep(0.01)
    assert gauges(stack, upstream) == (LIMIT, QUEUE)
    answers = await task
    assert Counter(status for status, _, _ in answers) == {200: LIMIT + QUEUE, 503: EXTRA}
    for status, body, headers in answers:
        if status == 503:
            assert reason_of(body, headers) == "queue-full"
            assert headers["Retry-After"] == "5"
            assert headers["X-Request-ID"]
    forwarded = stack.civi_received if received == "civi" else stack.espo_received
    assert len(forwarded) == LIMIT + QUEUE
    assert gauges(stack, upstream) == (0, 0)
    assert stack.metric("crmgw_upstream_rejected_total", upstream=upstream, reason="queue_full") == EXTRA


async def test_queued_requests_that_wait_too_long_get_503(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    stack = await capped_stack(aiohttp_server, aiohttp_client, tmp_path, queue_timeout=0.1)
    stack.set_civi_delay(0.5)
    holders = asyncio.ensure_future(burst(stack, V4, LIMIT))
    while gauges(stack, "civi-jwt") != (LIMIT, 0):
        await asyncio.sleep(0.005)
    waited = await burst(stack, V4, QUEUE)
    assert [(s, v4_refusal(body, h), h["Retry-After"]) for s, body, h in waited] == [
        (503, "queue-timeout", "1")
    ] * QUEUE
    assert [status for status, _, _ in await holders] == [200] * LIMIT
    assert len(stack.civi_received) == LIMIT
    assert gauges(stack, "civi-jwt") == (0, 0)
    assert stack.metric("crmgw_upstream_rejected_total", upstream="civi-jwt", reason="queue_full") == QUEUE


async def test_an_upstream_without_a_cap_is_not_held_back(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    stack = await capped_stack(aiohttp_server, aiohttp_client, tmp_path)
    capped_burst = asyncio.ensure_future(burst(stack, V4, LIMIT + QUEUE))
    await asyncio.sleep(DELAY_S / 4)
    # civi-apikey reaches the same slow CRM but has no cap of its own
    uncapped = await burst(stack, "/civi-apikey/civicrm/ajax/api4/Contact/get", LIMIT + QUEUE + EXTRA)
    assert [status for status, _, _ in uncapped] == [200] * (LIMIT + QUEUE + EXTRA)
    assert [status for status, _, _ in await capped_burst] == [200] * (LIMIT + QUEUE)


async def test_a_waiter_cancelled_in_the_queue_frees_its_place_and_the_queue_is_fifo() -> None:
    guard = ConcurrencyGuard(1, queue_size=3, queue_timeout=5.0)
    order: list[str] = []
    release = asyncio.Event()

    async def user(name: str) -> None:
        async with guard.slot():
            order.append(name)
            await release.wait()

    holder = asyncio.ensure_future(user("holder"))
    await asyncio.sleep(0)
    waiters = {name: asyncio.ensure_future(user(name)) for name in ("a", "b", "c")}
    await asyncio.sleep(0)
    assert (guard.inflight, guard.queued) == (1, 3)
    waiters["b"].cancel()
    await asyncio.gather(waiters["b"], return_exceptions=True)
    assert (guard.inflight, guard.queued) == (1, 2)
    release.set()
    await asyncio.gather(holder, waiters["a"], waiters["c"])
    assert order == ["holder", "a", "c"]
    assert (guard.inflight, guard.queued) == (0, 0)
