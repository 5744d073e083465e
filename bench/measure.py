"""The benchmark's measurements: one scenario against direct / nginx / gateway, fixed rate, soak, workers."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.procs import Service, children, cpu_seconds, open_fds, rss_kib
from bench.scenarios import Scenario
from bench.wrk import RunResult, run_wrk

MAX_SOAK_CHUNK_S = 20
SETTLE_S = 0.3


@dataclass(frozen=True)
class Targets:
    """Where each kind of load goes: the upstream itself, nginx in front of it, the gateway."""

    direct: Service | None = None
    nginx: Service | None = None
    gateway: Service | None = None
    aiohttp: Service | None = None
    """bench/passthrough.py: a bare aiohttp proxy, the framework's own cost (the floor section)."""


@dataclass(frozen=True)
class Measured:
    """One wrk run and the CPU time the loaded server (its processes, not wrk) spent meanwhile."""

    run: RunResult
    cpu_s: float

    def as_dict(self) -> dict[str, Any]:
        data = self.run.as_dict()
        data["valid"] = self.run.error_count == 0
        data["server_cpu_s"] = round(self.cpu_s, 2)
        data["cpu_us_per_request"] = (
            round(1e6 * self.cpu_s / self.run.requests, 1) if self.run.requests else None
        )
        return data


def load(service: Service, scenario: Scenario, token: str, *, gateway: bool, **kw: Any) -> Measured:
    before = cpu_seconds(service.pid)
    result = run_wrk(service.url, scenario.load(token, via_gateway=gateway), **kw)
    return Measured(result, cpu_seconds(service.pid) - before)


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def compare(
    targets: Targets,
    scenario: Scenario,
    token: str,
    *,
    connections: int,
    duration_s: int,
    rate: float = 0.0,
    only: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """The same load against each target in turn (``only`` those named, else every one given); ratios
    and added latency against nginx."""
    runs: dict[str, Measured] = {}
    names = only or tuple(n for n in ("direct", "nginx", "aiohttp", "gateway") if getattr(targets, n))
    for name in names:
        service = getattr(targets, name)
        assert service is not None, name
        runs[name] = load(
            service,
            scenario,
            token,
            gateway=name == "gateway",
            connections=connections,
            duration_s=duration_s,
            rate=rate,
        )
    entry: dict[str, Any] = {
        "scenario": scenario.name,
        "description": scenario.description,
        "concurrency": connections,
        **({"rate_per_s": rate} if rate else {}),
        **{name: measured.as_dict() for name, measured in runs.items()},
    }
    entry.update(versus(runs))
    return entry


def versus(runs: Mapping[str, Measured]) -> dict[str, Any]:
    gw, nginx, direct = runs.get("gateway"), runs.get("nginx"), runs.get("direct")
    out: dict[str, Any] = {}
    if gw is not None and nginx is not None:
        out["gateway_vs_nginx"] = ratio(gw.run.requests_per_s, nginx.run.requests_per_s)
        out["added_ms_vs_nginx"] = {
            p: round(getattr(gw.run, f"{p}_ms") - getattr(nginx.run, f"{p}_ms"), 3)
            for p in ("p50", "p90", "p99")
        }
        out["cpu_per_request_gateway_vs_nginx"] = ratio(
            gw.cpu_s / max(gw.run.requests, 1), nginx.cpu_s / max(nginx.run.requests, 1)
        )
    if gw is not None and direct is not None:
        out["gateway_vs_direct"] = ratio(gw.run.requests_per_s, direct.run.requests_per_s)
    bare = runs.get("aiohttp")
    if gw is not None and bare is not None:
        out["gateway_vs_aiohttp"] = ratio(gw.run.requests_per_s, bare.run.requests_per_s)
        out["cpu_per_request_gateway_vs_aiohttp"] = ratio(
            gw.cpu_s / max(gw.run.requests, 1), bare.cpu_s / max(bare.run.requests, 1)
        )
    return out


def process_probe(service: Service) -> dict[str, int]:
    """RSS and open fds of the serving processes (the workers when there are any, else the process),
    once the connections of the load just ended have had a moment to close."""
    time.sleep(SETTLE_S)
    pids = children(service.pid) or [service.pid]
    return {
        "rss_kib": sum(rss_kib(p) for p in pids),
        "fds": sum(open_fds(p) for p in pids),
        "processes": len(pids),
    }


def soak(
    gateway: Service,
    scenario: Scenario,
    token: str,
    *,
    requests: int,
    connections: int,
    warmup_s: int,
    max_seconds: float,
) -> dict[str, Any]:
    """Warm up, then send at least ``requests`` in chunks, sampling RSS and fds after each chunk."""
    warm = (
        load(gateway, scenario, token, gateway=True, connections=connections, duration_s=warmup_s)
        if warmup_s
        else None
    )
    before = process_probe(gateway)
    samples = [{"requests": 0, **before}]
    sent, errors, rps = 0, 0, max(warm.run.requests_per_s if warm else 0.0, 1000.0)
    started = time.monotonic()
    while sent < requests and time.monotonic() - started < max_seconds:
        chunk_s = max(1, min(MAX_SOAK_CHUNK_S, math.ceil((requests - sent) / rps)))
        measured = load(gateway, scenario, token, gateway=True, connections=connections, duration_s=chunk_s)
        result = measured.run
        sent += result.requests
        errors += result.error_count
        rps = max(result.requests_per_s, 1.0)
        samples.append({"requests": sent, **process_probe(gateway)})
    after = samples[-1]
    return {
        "scenario": scenario.name,
        "concurrency": connections,
        "warmup_requests": warm.run.requests if warm else 0,
        "requests": sent,
        "target_requests": requests,
        "complete": sent >= requests,
        "errors": errors,
        "seconds": round(time.monotonic() - started, 1),
        "rss_kib_before": before["rss_kib"],
        "rss_kib_after": after["rss_kib"],
        "rss_growth_pct": round(100.0 * (after["rss_kib"] - before["rss_kib"]) / before["rss_kib"], 2),
        "fds_before": before["fds"],
        "fds_after": after["fds"],
        "samples": samples,
    }
