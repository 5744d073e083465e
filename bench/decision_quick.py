"""python -m bench.decision_quick [-c C] [--seconds S] [--repeat N] [--profile S]: decision endpoint alone.

The before/after check for the decision endpoint's own cost: the nginx JSON upstream and one gateway worker
with bench/decision_bench.py's decision config, a warm-up, then N wrk runs of the EspoCRM Lead GET asked of
the endpoint directly, as nginx's ``auth_request`` asks it (X-Original-Method / X-Original-URI, the client's
headers), from 127.0.0.1. Prints each run's gateway CPU per request (the /proc method of bench/measure.py)
and the medians. ``--profile S`` samples the gateway with py-spy for S seconds instead and prints the
largest shares, as bench/profile.py does for proxy mode.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.decision_bench import SCENARIO, decision_config
from bench.gateway import make_credentials, probe, start_gateway
from bench.nginx import start_nginx, upstream_conf
from bench.procs import Service, cpu_seconds, free_port
from bench.profile import RESULTS, aggregate
from bench.wrk import Load, RunResult, run_wrk

ENDPOINT = "/_crm_gateway/authz"


def asked(token: str) -> Load:
    """What nginx's auth_request subrequest carries for the scenario's GET."""
    client = SCENARIO.load(token, via_gateway=True)
    headers = {**client.headers, "X-Original-Method": client.method, "X-Original-URI": client.path}
    return Load(path=ENDPOINT, method="GET", headers=headers)


def _spy(gateway: Service, load: Load, seconds: int, connections: int, workdir: Path) -> dict[str, Any]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy (profiling only)")
    raw = workdir / "profile.txt"
    result: dict[str, RunResult] = {}

    def drive() -> None:
        result["run"] = run_wrk(gateway.url, load, connections=connections, duration_s=seconds + 1)

    loader = threading.Thread(target=drive)
    loader.start()
    time.sleep(0.5)
    command = [spy, "record", "--pid", str(gateway.pid), "--duration", str(seconds), "--rate", "250"]
    command += ["--format", "raw", "--output", str(raw)]
    subprocess.run(command, check=True, capture_output=True, timeout=seconds + 60)
    loader.join()
    summary = aggregate(raw.read_text())
    summary["load"] = {"endpoint": ENDPOINT, "concurrency": connections, **result["run"].as_dict()}
    summary["collapsed"] = raw.read_text()
    return summary


def run(args: argparse.Namespace, workdir: Path) -> list[tuple[RunResult, float]] | dict[str, Any]:
    services: list[Service] = []
    try:
        port = free_port()
        upstream = start_nginx(workdir, "upstream", upstream_conf(workdir, port), port)
        services.append(upstream)
        credentials = make_credentials(upstream.url)
        config = decision_config(workdir)
        gateway = start_gateway(workdir, credentials, config=config, name="gateway-decision")
        services.append(gateway)
        load = asked(credentials.token)
        status, body = probe(gateway.url + load.path, load.method, dict(load.headers))
        if status != 200:
            raise RuntimeError(f"the decision endpoint answered {status}: {body[:300]!r}")
        run_wrk(gateway.url, load, connections=args.concurrency, duration_s=2)
        if args.profile:
            return _spy(gateway, load, args.profile, args.concurrency, workdir)
        runs = []
        for _ in range(args.repeat):
            before = cpu_seconds(gateway.pid)
            result = run_wrk(gateway.url, load, connections=args.concurrency, duration_s=args.seconds)
            runs.append((result, cpu_seconds(gateway.pid) - before))
        return runs
    finally:
        for service in reversed(services):
            service.stop()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.decision_quick", description=__doc__.splitlines()[0])
    p.add_argument("-c", "--concurrency", type=int, default=16)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--profile", type=int, default=0, help="py-spy for S seconds instead of timed runs")
    p.add_argument("--top", type=int, default=30)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="crmgw-decision-quick-") as tmp:
        outcome = run(args, Path(tmp))
    if isinstance(outcome, dict):
        out = RESULTS / f"profile-decision-{time.strftime('%Y%m%dT%H%M%S')}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(outcome, indent=2) + "\n")
        print(f"decision endpoint: {outcome['load']['requests_per_s']} req/s; {outcome['samples']} samples")
        for kind in ("self", "inclusive"):
            print(f"\ntop {kind}:")
            for row in outcome[kind][: args.top]:
                print(f"  {row['pct']:5.1f} %  {row['function']}")
        print(f"\nwritten: {out}")
        return 0
    rows = [(r, 1e6 * cpu / max(r.requests, 1)) for r, cpu in outcome]
    for r, cpu in rows:
        print(
            f"{r.requests_per_s:9.1f} req/s  p50 {r.p50_ms:7.3f}  p99 {r.p99_ms:7.3f} ms  "
            f"cpu {cpu:6.1f} us/req  errors {r.error_count}"
        )
    med = statistics.median
    print(
        f"median {med(r.requests_per_s for r, _ in rows):.1f} req/s  cpu {med(c for _, c in rows):.1f} us/req"
    )
    return 0 if all(r.error_count == 0 for r, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
