"""python -m bench.decision_bench [--duration S] [--connections N] [--cache-seconds N] [--out FILE]: nginx in
front of the gateway's decision endpoint, against nginx as a plain reverse proxy, to the same upstream.

Everything on 127.0.0.1, stopped at the end, one worker each: nginx answering a fixed JSON body (the
upstream, bench/nginx.py), nginx as a plain reverse proxy to it (the baseline), `crm-gateway serve` with
bench/gateway.yaml plus a ``decision:`` section, and nginx configured by `crm-gateway frontend nginx`
(every request asks the gateway with ``auth_request``, then nginx carries the bytes). One wrk run per
target of cached-token GETs (the EspoCRM Lead list of bench/scenarios.py, HMAC-signed per request); for
reference, the gateway's proxy mode alone and behind a plain nginx proxy (today's way of putting nginx in
front of it). The decision front runs twice: without the decision cache, and with it on
(``--decision-cache-seconds``, ``--cache-seconds``, default 10; 0 leaves that run out): wrk repeats one GET
with one token, so with the cache nearly every decision is a hit. Targets: decision without the cache
>= 0.30 x plain proxy requests/s, with the cache >= 0.5.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from bench import scenarios
from bench.decision_floor import KINDS, capture_answer, floor_figures, floor_lines, start_minimal
from bench.gateway import CONFIG, Credentials, make_credentials, probe, start_gateway
from bench.machine import machine_info
from bench.nginx import UPSTREAM_BODY, _common, nginx_binary, start_nginx, start_plain_proxy, start_upstream
from bench.procs import Service, cpu_seconds, free_port
from bench.wrk import run_wrk, wrk_binary
from gateway.config.loader import load_config
from gateway.decision import contract
from gateway.frontends.cache import DecisionCache
from gateway.frontends.nginx import http_block
from gateway.frontends.plan import make_plan

RESULTS = Path(__file__).parent / "results"
TARGET_RATIO = 0.5
"""With nginx's decision cache."""
TARGET_RATIO_NO_CACHE = 0.30
"""Every request asks the gateway (issue 17)."""
SCENARIO = scenarios.ESPO


def decision_config(workdir: Path) -> Path:
    """bench/gateway.yaml with decision mode on for the scenario's upstream (policies by absolute path; the
    CiviCRM upstream stays in proxy mode: its policy removes answer fields, which a decision never sees)."""
    data = yaml.safe_load(CONFIG.read_text())
    data["policies"] = [str((CONFIG.parent / entry).resolve()) for entry in data["policies"]]
    data["decision"] = {"trusted_proxies": ["127.0.0.1/32"], "upstreams": ["espo"]}
    path = workdir / "gateway-decision.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def decision_nginx_conf(
    workdir: Path,
    config: Path,
    credentials: Credentials,
    port: int,
    gateway: Service,
    *,
    name: str = "decision",
    cache_seconds: int = 0,
) -> str:
    """The generated front-proxy config inside the same process settings as bench/nginx.py's proxy."""
    cache = None
    if cache_seconds:
        folder = workdir / f"{name}-cache"
        folder.mkdir()
        folder.chmod(0o777)  # written by the unprivileged worker when the master runs as root
        cache = DecisionCache(cache_seconds, str(folder))
    plan = make_plan(
        load_config(config, credentials.environ),
        listen=f"127.0.0.1:{port}",
        gateway=f"127.0.0.1:{gateway.port}",
        cache=cache,
    )
    return _common(workdir, name) + "  access_log /dev/null combined;\n" + http_block(plan) + "}\n"


def check(front: Service, gateway: Service, token: str) -> None:
    """The decision path really answers the upstream's body, with an HMAC decided by the gateway."""
    load = SCENARIO.load(token, via_gateway=True)
    status, body = probe(front.url + load.path, load.method, dict(load.headers))
    if status != 200 or body.decode() != UPSTREAM_BODY:
        raise RuntimeError(f"decision via nginx answered {status}: {body[:300]!r}")
    asked = {**load.headers, "X-Original-Method": "GET", "X-Original-URI": load.path}
    status, _ = probe(gateway.url + "/_crm_gateway/authz", "GET", asked)
    if status != 200:
        raise RuntimeError(f"the decision endpoint answered {status}")


def measure(
    service: Service,
    cpu_of: Sequence[Service],
    path_from_gateway: bool,
    token: str,
    args: Any,
    gateway: Service | None = None,
) -> dict[str, Any]:
    """One wrk run; the CPU of every process in ``cpu_of`` and, apart, the gateway's per request."""
    load = SCENARIO.load(token, via_gateway=path_from_gateway)
    run_wrk(service.url, load, connections=args.connections, duration_s=args.warmup)
    before = sum(cpu_seconds(s.pid) for s in cpu_of)
    gateway_before = cpu_seconds(gateway.pid) if gateway else 0.0
    result = run_wrk(service.url, load, connections=args.connections, duration_s=args.duration)
    data = result.as_dict()
    data["valid"] = result.error_count == 0
    data["server_cpu_s"] = round(sum(cpu_seconds(s.pid) for s in cpu_of) - before, 2)
    if gateway is not None:
        spent = cpu_seconds(gateway.pid) - gateway_before
        data["gateway_cpu_us_per_request"] = round(1e6 * spent / max(result.requests, 1), 1)
    return data


def run(args: Any, workdir: Path) -> dict[str, Any]:
    services: list[Service] = []

    def keep(service: Service) -> Service:
        services.append(service)
        return service

    workdir.chmod(0o755)  # the nginx workers reach their temp and cache folders below it
    try:
        front_port = free_port()
        upstream = keep(start_upstream(workdir))
        plain = keep(start_plain_proxy(workdir, upstream.port))
        credentials = make_credentials(upstream.url)
        config = decision_config(workdir)
        gateway = keep(start_gateway(workdir, credentials, config=config, name="gateway-decision"))
        conf = decision_nginx_conf(workdir, config, credentials, front_port, gateway)
        front = keep(start_nginx(workdir, "decision", conf, front_port))
        chain = keep(start_plain_proxy(workdir, gateway.port, name="chain"))
        cached = None
        if args.cache_seconds:
            cached_port = free_port()
            conf = decision_nginx_conf(
                workdir,
                config,
                credentials,
                cached_port,
                gateway,
                name="decision-cached",
                cache_seconds=args.cache_seconds,
            )
            cached = keep(start_nginx(workdir, "decision-cached", conf, cached_port))
        token = credentials.token
        check(front, gateway, token)
        answers = [capture_answer(gateway.url, SCENARIO.load(token, via_gateway=True))]
        floors = []
        for kind in KINDS if args.floor else ():
            minimal = keep(start_minimal(workdir, answers, kind))
            port = free_port()
            conf = decision_nginx_conf(workdir, config, credentials, port, minimal, name=f"minimal-{kind}")
            floors.append((kind, minimal, keep(start_nginx(workdir, f"minimal-{kind}", conf, port))))
            check(floors[-1][2], minimal, token)
        if cached is not None:
            check(cached, gateway, token)
        results = {
            "nginx_proxy": measure(plain, [plain, upstream], False, token, args),
            "nginx_decision": measure(front, [front, gateway, upstream], True, token, args, gateway),
        }
        for kind, minimal, fronted in floors:
            results[f"nginx_minimal_{kind}"] = measure(
                fronted, [fronted, minimal, upstream], True, token, args, minimal
            )
        results |= {
            "gateway_proxy": measure(gateway, [gateway, upstream], True, token, args, gateway),
            "nginx_to_gateway_proxy": measure(chain, [chain, gateway, upstream], True, token, args, gateway),
        }
        if cached is not None:
            results["nginx_decision_cached"] = measure(
                cached, [cached, gateway, upstream], True, token, args, gateway
            )
    finally:
        for service in reversed(services):
            service.stop()
    decided = results["nginx_decision"]["requests_per_s"]
    ratio = decided / max(1e-9, results["nginx_proxy"]["requests_per_s"])
    chained = decided / max(1e-9, results["nginx_to_gateway_proxy"]["requests_per_s"])
    cached_ratio = None
    if "nginx_decision_cached" in results:
        cached_rps = results["nginx_decision_cached"]["requests_per_s"]
        cached_ratio = round(cached_rps / max(1e-9, results["nginx_proxy"]["requests_per_s"]), 3)
    return {
        "meta": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine_info(),
            "scenario": SCENARIO.description,
            "connections": args.connections,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "decision_cache_seconds": args.cache_seconds,
            "wrk": "1 thread, keep-alive, bench/lua/bench.lua",
            "decision_headers": [
                contract.UPSTREAM,
                contract.URI,
                contract.set_header("X-Hmac-Authorization"),
            ],
        },
        "results": results,
        "decision_vs_nginx_proxy": round(ratio, 3),
        "decision_vs_nginx_to_gateway_proxy": round(chained, 3),
        "decision_cached_vs_nginx_proxy": cached_ratio,
        "target": TARGET_RATIO,
        "target_no_cache": TARGET_RATIO_NO_CACHE,
        "target_met": ratio >= TARGET_RATIO_NO_CACHE,
        "target_met_with_cache": cached_ratio is not None and cached_ratio >= TARGET_RATIO,
        "floor": floor_figures(results) if args.floor else None,
    }


def summary(report: dict[str, Any]) -> str:
    lines = [f"{'target':<24}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'cpu s':>8}{'svc us/req':>11}  errors"]
    for name, data in report["results"].items():
        errors = sum(data["errors"].values())
        gateway = data.get("gateway_cpu_us_per_request")
        lines.append(
            f"{name:<24}{data['requests_per_s']:>10.0f}{data['p50_ms']:>9.2f}{data['p99_ms']:>9.2f}"
            f"{data['server_cpu_s']:>8.1f}{'-' if gateway is None else gateway:>11}  {errors}"
        )
    verdict = "met" if report["target_met"] else "NOT met"
    lines.append(
        f"decision / plain proxy = {report['decision_vs_nginx_proxy']:.2f} "
        f"(target >= {TARGET_RATIO_NO_CACHE}: {verdict})"
    )
    lines.append(
        f"decision / nginx in front of proxy mode = {report['decision_vs_nginx_to_gateway_proxy']:.2f}"
    )
    if report.get("floor"):
        lines.extend(floor_lines(report["floor"]))
    cached = report["decision_cached_vs_nginx_proxy"]
    if cached is not None:
        verdict = "met" if report["target_met_with_cache"] else "NOT met"
        seconds = report["meta"]["decision_cache_seconds"]
        lines.append(
            f"decision with a {seconds} s cache / plain proxy = {cached:.2f} "
            f"(target >= {TARGET_RATIO}: {verdict})"
        )
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.decision_bench", description=__doc__.splitlines()[0])
    p.add_argument(
        "--duration", type=int, default=10, help="seconds of measured load per target (default 10)"
    )
    p.add_argument(
        "--warmup", type=int, default=2, help="seconds of load before each measurement (default 2)"
    )
    p.add_argument("--connections", type=int, default=32, help="keep-alive connections (default 32)")
    p.add_argument(
        "--cache-seconds",
        type=int,
        default=10,
        help="decision cache TTL of the cached run (default 10; 0: no cached run)",
    )
    p.add_argument(
        "--no-floor",
        dest="floor",
        action="store_false",
        help="leave out the minimal decision services, aiohttp and raw (bench/minimal_decision.py)",
    )
    p.add_argument("--out", type=Path, default=None, help="JSON result file (default bench/results/...)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    missing = [name for name, found in (("wrk", wrk_binary()), ("nginx", nginx_binary())) if found is None]
    if missing:
        print(f"missing: {', '.join(missing)} (apt-get install -y wrk nginx-light)", file=sys.stderr)
        return 2
    out: Path = args.out or RESULTS / f"decision-{time.strftime('%Y%m%dT%H%M%S')}.json"
    with tempfile.TemporaryDirectory(prefix="crmgw-decision-bench-") as tmp:
        report = run(args, Path(tmp))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(summary(report))
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
