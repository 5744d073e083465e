"""``crm-gateway serve --workers N``: N processes on one SO_REUSEPORT port, one merged /metrics."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.integration.test_server_harness import (
    ALLOW_LEADS,
    DENY_LEADS,
    LEADS,
    GatewayProcess,
    GatewaySite,
    base_url,
    serving,
    start_espo,
)
from tests.support.ports import free_port

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT") or sys.platform != "linux", reason="Linux only"),
]
REQUESTS = "crmgw_requests_total"
_LISTENING = re.compile(r"listening on 127\.0\.0\.1:[^(]* \(pid (\d+)")


async def wait_workers(gw: GatewayProcess, count: int, timeout: float = 20.0) -> set[int]:
    """The pids of the workers that logged 'listening', once ``count`` of them have."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(pids := {int(m.group(1)) for line in gw.lines if (m := _LISTENING.search(line))}) < count:
        assert loop.time() < deadline, "\n".join(gw.lines)
        await asyncio.sleep(0.05)
    return pids


def requests_by_worker(metrics_dir: Path) -> dict[int, float]:
    """From each worker's own counter file: how many requests that process answered."""
    served: dict[int, float] = {}
    for file in metrics_dir.glob("counter_*.db"):
        families = MultiProcessCollector.merge([str(file)], accumulate=True)  # type: ignore[no-untyped-call]
        samples = [s for family in families for s in family.samples]
        served[int(file.stem.split("_")[1])] = sum(s.value for s in samples if s.name == REQUESTS)
    return served


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_two_workers_serve_one_port_and_metrics_add_up_over_both(
    aiohttp_server: Any, tmp_path: Path
) -> None:
    espo = await start_espo(aiohttp_server)
    site = GatewaySite.write(tmp_path, base_url(espo))
    metrics_dir = tmp_path / "metrics"
    env = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    async with serving(site.config, "--workers", "2", env=env) as gw:
        pids = await wait_workers(gw, 2)
        assert len(pids) == 2 and gw.proc.pid not in pids
        assert {parent_of(pid) for pid in pids} == {gw.proc.pid}

        sent = 40  # each on its own connection: the kernel picks a worker per connection
        assert await asyncio.gather(*(gw.get(LEADS, site.bearer()) for _ in range(sent))) == [200] * sent
        served = {pid: n for pid, n in requests_by_worker(metrics_dir).items() if n}
        assert set(served) == pids, f"not every worker answered: {served}"
        assert sum(served.values()) == sent
        for _ in range(4):  # whichever worker answers the scrape, it reports every worker's requests
            assert await gw.metric(REQUESTS, upstream="espo", status_class="2xx") == sent
            assert await gw.metric("crmgw_request_duration_seconds_count", upstream="espo") == sent
            assert await gw.metric("crmgw_build_info") == 1
            assert await gw.metric("crmgw_inflight_requests", upstream="espo") == 0

        site.policy.write_text(DENY_LEADS)
        gw.send(signal.SIGHUP)  # the supervisor passes it on: each worker reloads
        await gw.wait_metric("crmgw_config_reloads_total", 2, outcome="ok")
        assert await asyncio.gather(*(gw.get(LEADS, site.bearer()) for _ in range(10))) == [403] * 10

        gw.send(signal.SIGTERM)
        assert await gw.wait_exit(timeout=15) == 0
        assert not any(alive(pid) for pid in pids)
    assert not list(metrics_dir.glob("gauge_live*")), "dead workers still count in the live gauges"


async def test_a_worker_that_dies_is_replaced_and_its_counts_are_kept(
    aiohttp_server: Any, tmp_path: Path
) -> None:
    espo = await start_espo(aiohttp_server)
    site = GatewaySite.write(tmp_path, base_url(espo))
    async with serving(site.config, "--workers", "2") as gw:
        first = await wait_workers(gw, 2)
        sent = 20
        assert await asyncio.gather(*(gw.get(LEADS, site.bearer()) for _ in range(sent))) == [200] * sent
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        await gw.wait_for_log(rf"worker {victim} exited with status -9; starting another")
        now = await wait_workers(gw, 3)
        assert len(now - first) == 1

        assert await asyncio.gather(*(gw.get(LEADS, site.bearer()) for _ in range(sent))) == [200] * sent
        assert await gw.metric(REQUESTS, upstream="espo") == 2 * sent
        gw.send(signal.SIGTERM)
        assert await gw.wait_exit(timeout=15) == 0


async def test_every_worker_serves_an_upstream_on_its_own_port(aiohttp_server: Any, tmp_path: Path) -> None:
    espo = await start_espo(aiohttp_server)
    root_port = free_port()
    policy = ALLOW_LEADS.replace("upstreams: [espo]", "upstreams: [espo, espo-root]")
    site = GatewaySite.write(tmp_path, base_url(espo), policy=policy, root_port=root_port)
    metrics_dir = tmp_path / "metrics"
    async with serving(
        site.config, "--workers", "2", env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    ) as gw:
        pids = await wait_workers(gw, 2)
        at_root = GatewayProcess(proc=gw.proc, port=root_port)
        sent = 40  # each on its own connection: the kernel picks a worker per connection
        answers = await asyncio.gather(*(at_root.get("/api/v1/Lead", site.bearer()) for _ in range(sent)))
        assert answers == [200] * sent
        served = {pid: n for pid, n in requests_by_worker(metrics_dir).items() if n}
        assert set(served) == pids, f"not every worker answered on port {root_port}: {served}"
        assert await gw.metric(REQUESTS, upstream="espo-root", status_class="2xx") == sent
        assert await gw.get(LEADS, site.bearer()) == 200
        gw.send(signal.SIGTERM)
        assert await gw.wait_exit(timeout=15) == 0


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_a_port_in_use_fails_fast_with_status_1(
    workers: str, tmp_path: Path, aiohttp_server: Any
) -> None:
    espo = await start_espo(aiohttp_server)
    site = GatewaySite.write(tmp_path, base_url(espo))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        gw = await GatewayProcess.start(site.config, "--port", port, "--workers", workers, ready=False)
        try:
            assert await gw.wait_exit(timeout=20) == 1
        finally:
            await gw.close()
    await gw.wait_for_log(rf"cannot listen on 127\.0\.0\.1:{port}: Address already in use")
