"""A request's access line is rendered after its answer is written (at the end of the loop turn that
answered it), once per request, in proxy mode and through the decision endpoint, and when the client
hangs up, the request is cut at shutdown or answered across a reload; its metrics are counted once."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import gateway.exchange
from gateway.decision import contract
from gateway.exchange import Exchange
from gateway.sandbox.espocrm import ESPO_CONFIG
from tests.integration.test_server_harness import (
    DENY_LEADS,
    GatewayProcess,
    GatewaySite,
    base_url,
    serving,
    start_espo,
    wait_received,
)
from tests.integration.test_server_harness import LEADS as SERVED
from tests.support.stack import Stack, metric_samples, start_stack

DECISION = """decision:
  trusted_proxies: [127.0.0.1/32]
  upstreams: [espo-key]
"""
LEADS = "/espo-key/api/v1/Lead"
SET_REQUEST_ID = contract.set_header("X-Request-ID")


def answered(stack: Stack, **labels: str) -> float:
    """``crmgw_requests_total`` summed over the samples with these labels."""
    samples = metric_samples(stack.metrics_text(), "crmgw_requests_total")
    return sum(v for key, v in samples.items() if set(labels.items()) <= set(key))


def access_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [line for line in lines if "request_id" in line and "decision" in line]


async def test_each_line_is_rendered_once_after_its_answer_is_written(
    aiohttp_server: Any,
    aiohttp_client: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack = await start_stack(aiohttp_server, aiohttp_client, tmp_path, extra=DECISION)
    events: list[tuple[str, str]] = []
    write_eof = web.Response.write_eof
    render = gateway.exchange.access_line

    async def written(self: web.Response, data: bytes = b"") -> None:
        await write_eof(self, data)
        headers = self.headers  # the decision's 200 tells nginx to set it upstream
        events.append(("written", headers.get("X-Request-ID") or headers.get(SET_REQUEST_ID) or ""))

    def rendered(ex: Exchange, status: int, duration: float) -> str:
        events.append(("rendered", ex.request_id))
        return render(ex, status, duration)

    monkeypatch.setattr(web.Response, "write_eof", written)
    monkeypatch.setattr(gateway.exchange, "access_line", rendered)
    before = answered(stack, upstream="espo-key")
    capsys.readouterr()

    asked = {**stack.bearer(), "X-Original-Method": "GET", "X-Original-URI": "/espo-key/api/v1/Lead"}
    answers = [
        await stack.client.get(LEADS, headers={**stack.bearer(), "X-Request-ID": "proxy-mode-0001"}),
        await stack.client.get(LEADS, headers={"X-Request-ID": "proxy-mode-0002"}),  # refused: no token
        await stack.client.get("/_crm_gateway/authz", headers={**asked, "X-Request-ID": "decision-0003"}),
    ]
    assert [a.status for a in answers] == [200, 401, 200]
    ids = ["proxy-mode-0001", "proxy-mode-0002", "decision-0003"]
    lines = access_lines(capsys)
    assert [line["request_id"] for line in lines] == ids
    assert [line["status"] for line in lines] == [200, 401, 200]
    assert all(line["duration_ms"] > 0 for line in lines)
    assert [e for e in events if e[1] in ids] == [
        (what, request_id) for request_id in ids for what in ("written", "rendered")
    ]
    assert answered(stack, upstream="espo-key") - before == 3
    assert stack.metric("crmgw_auth_failures_total", reason="missing-token") == 1


def raw_get(path: str, token: str, request_id: str) -> bytes:
    head = f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\nX-Request-ID: {request_id}\r\n"
    return head.encode() + b"\r\n"


def lines_of(gw: GatewayProcess, request_id: str) -> list[dict[str, Any]]:
    return [r for r in gw.access_records() if r["request_id"] == request_id]


@pytest.mark.timeout(60)
async def test_a_client_hanging_up_is_recorded_once(aiohttp_server: Any, tmp_path: Path) -> None:
    espo = await start_espo(aiohttp_server)
    site = GatewaySite.write(tmp_path, base_url(espo))
    async with serving(site.config) as gw:
        espo.app[ESPO_CONFIG].delay_seconds = 30
        _, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(raw_get(SERVED, site.bearer()["Authorization"], "hung-up-0001"))
        await wait_received(espo, 1)
        writer.close()
        await gw.wait_metric("crmgw_requests_total", 1, status_class="4xx", decision="error")
        await asyncio.sleep(0.3)
        assert await gw.metric("crmgw_requests_total") == 1
        [line] = lines_of(gw, "hung-up-0001")
        assert (line["status"], line["reason"], line["decision"]) == (499, "client-closed", "error")


@pytest.mark.timeout(60)
async def test_a_request_cut_at_shutdown_is_recorded_once(aiohttp_server: Any, tmp_path: Path) -> None:
    espo = await start_espo(aiohttp_server)
    site = GatewaySite.write(tmp_path, base_url(espo))
    async with serving(site.config, "--grace-seconds", "0.5") as gw:
        espo.app[ESPO_CONFIG].delay_seconds = 30
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(raw_get(SERVED, site.bearer()["Authorization"], "cut-at-stop-0001"))
        await wait_received(espo, 1)
        gw.send(signal.SIGTERM)
        assert await asyncio.wait_for(reader.read(), 10) == b""
        assert await gw.wait_exit(timeout=10) == 0
        await asyncio.sleep(0.2)  # the last of stdout
        [line] = lines_of(gw, "cut-at-stop-0001")
        assert (line["status"], line["reason"]) == (499, "client-closed")
        assert line["duration_ms"] >= 400
        writer.close()


@pytest.mark.timeout(60)
async def test_a_request_answered_across_a_reload_is_recorded_once(
    aiohttp_server: Any, tmp_path: Path
) -> None:
    espo = await start_espo(aiohttp_server)
    site = GatewaySite.write(tmp_path, base_url(espo))
    async with serving(site.config) as gw:
        espo.app[ESPO_CONFIG].delay_seconds = 1.5
        slow = asyncio.create_task(gw.get(SERVED, {**site.bearer(), "X-Request-ID": "across-reload-01"}))
        await wait_received(espo, 1)
        site.policy.write_text(DENY_LEADS)
        gw.send(signal.SIGHUP)
        await gw.wait_metric("crmgw_config_reloads_total", 1, outcome="ok")
        assert not slow.done()
        espo.app[ESPO_CONFIG].delay_seconds = 0
        assert await slow == 200  # pinned to the runtime it started on
        assert await gw.get(SERVED, {**site.bearer(), "X-Request-ID": "after-reload-001"}) == 403
        await gw.wait_metric("crmgw_requests_total", 2)
        await asyncio.sleep(0.3)
        assert await gw.metric("crmgw_requests_total") == 2
        assert [r["status"] for r in lines_of(gw, "across-reload-01")] == [200]
        assert [r["status"] for r in lines_of(gw, "after-reload-001")] == [403]
