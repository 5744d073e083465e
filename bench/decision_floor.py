"""The minimal decision services of bench/minimal_decision.py inside bench/decision_bench.py: the
gateway's answer for the scenario captured once, the services started with it, and the floor ratios."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from bench.minimal_decision import ENDPOINT
from bench.procs import Service, free_port, wait_for_port
from bench.wrk import Load

HERE = Path(__file__).parent
KINDS = ("server", "app", "raw")
LABELS = {"server": "minimal aiohttp (server)", "app": "minimal aiohttp (app)", "raw": "no framework (raw)"}
_FRAMEWORK_HEADERS = frozenset({"date", "server", "content-length", "content-type"})
"""Set by aiohttp on every answer, the minimal service's as the gateway's."""


def capture_answer(gateway_url: str, client: Load) -> dict[str, Any]:
    """The gateway's 200 decision on the client's request as nginx's auth_request asks it, as an entry."""
    asked = {**client.headers, "X-Original-Method": client.method, "X-Original-URI": client.path}
    request = urllib.request.Request(gateway_url + ENDPOINT, method="GET", headers=asked)
    with urllib.request.urlopen(request, timeout=10) as answer:
        if answer.status != 200:
            raise RuntimeError(f"the decision endpoint answered {answer.status}")
        headers = [(k, v) for k, v in answer.headers.items() if k.lower() not in _FRAMEWORK_HEADERS]
    return {
        "authorization": asked["Authorization"],
        "method": client.method,
        "uri": client.path,
        "headers": headers,
    }


def start_minimal(workdir: Path, answers: list[dict[str, Any]], kind: str) -> Service:
    path = workdir / "minimal-answers.json"
    path.write_text(json.dumps({"answers": answers}))
    port = free_port()
    log_path = workdir / f"minimal-{kind}.log"
    command = [sys.executable, "-m", "bench.minimal_decision", "--port", str(port), "--answers", str(path)]
    command += ["--kind", kind]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, cwd=HERE.parent)
    service = Service(f"minimal-decision-{kind}", process, port)
    wait_for_port(service, log_path)
    return service


def floor_figures(results: dict[str, Any]) -> dict[str, Any]:
    """minimal/nginx, gateway/nginx, CPU per decision of each, gateway/minimal (CPU and throughput)."""
    plain = results["nginx_proxy"]
    nginx = max(1e-9, plain["requests_per_s"])
    gateway = results["nginx_decision"]
    out: dict[str, Any] = {
        "gateway_vs_nginx_proxy": round(gateway["requests_per_s"] / nginx, 3),
        "gateway_cpu_us_per_decision": gateway.get("gateway_cpu_us_per_request"),
        "nginx_proxy_cpu_us_per_request": _servers_cpu(plain),
        "nginx_front_cpu_us_per_request": {"gateway": _servers_cpu(gateway, less_service=True)},
    }
    for kind in KINDS:
        minimal = results.get(f"nginx_minimal_{kind}")
        if minimal is None:
            continue
        cpu = minimal["gateway_cpu_us_per_request"]
        out["nginx_front_cpu_us_per_request"][kind] = _servers_cpu(minimal, less_service=True)
        out[f"minimal_{kind}_vs_nginx_proxy"] = round(minimal["requests_per_s"] / nginx, 3)
        out[f"minimal_{kind}_cpu_us_per_decision"] = cpu
        out[f"gateway_vs_minimal_{kind}_cpu"] = round(
            gateway["gateway_cpu_us_per_request"] / max(cpu, 1e-9), 2
        )
        out[f"gateway_vs_minimal_{kind}_throughput"] = round(
            gateway["requests_per_s"] / max(1e-9, minimal["requests_per_s"]), 3
        )
    return out


def _servers_cpu(run: dict[str, Any], *, less_service: bool = False) -> float | None:
    """nginx's CPU per request (with the upstream's): the run's server CPU, less the decision service's."""
    if "server_cpu_s" not in run or not run.get("requests"):
        return None
    total = 1e6 * float(run["server_cpu_s"]) / int(run["requests"])
    service = float(run["gateway_cpu_us_per_request"]) if less_service else 0.0
    return round(total - service, 1)


def floor_lines(floor: dict[str, Any]) -> list[str]:
    lines = [
        f"gateway decision: {floor['gateway_vs_nginx_proxy']:.3f} x nginx, "
        f"{floor['gateway_cpu_us_per_decision']} us CPU per decision"
    ]
    front = floor["nginx_front_cpu_us_per_request"]
    if floor["nginx_proxy_cpu_us_per_request"] is not None:
        lines.append(
            f"nginx + upstream CPU per request: plain proxy {floor['nginx_proxy_cpu_us_per_request']} us, "
            "auth_request front (less the decision service) "
            + ", ".join(f"{name} {us} us" for name, us in front.items())
        )
    for kind in KINDS:
        if f"minimal_{kind}_vs_nginx_proxy" in floor:
            lines.append(
                f"{LABELS[kind]}: {floor[f'minimal_{kind}_vs_nginx_proxy']:.3f} x nginx, "
                f"{floor[f'minimal_{kind}_cpu_us_per_decision']} us CPU per decision; gateway / minimal: "
                f"CPU {floor[f'gateway_vs_minimal_{kind}_cpu']:.2f}x, "
                f"throughput {floor[f'gateway_vs_minimal_{kind}_throughput']:.3f}"
            )
    return lines
