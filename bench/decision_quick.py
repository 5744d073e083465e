"""python -m bench.decision_quick [-c C] [--seconds S] [--repeat N] [--profile S]: decision endpoint alone.

The before/after check for the decision endpoint's own cost: the nginx JSON upstream and one gateway worker
with bench/decision_bench.py's decision config, a warm-up, then N wrk runs of the EspoCRM Lead GET asked of
the endpoint directly, as nginx's ``auth_request`` asks it (X-Original-Method / X-Original-URI, the client's
headers), from 127.0.0.1. Prints each run's gateway CPU per request (the /proc method of bench/measure.py)
and the medians. ``--floor`` also starts bench/minimal_decision.py's low-level service with the gateway's
captured answer and alternates the runs between the two (the framework's floor in the same sitting).
``--profile S`` samples the gateway with py-spy for S seconds instead and prints the
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
from bench.decision_floor import capture_answer, start_minimal
from bench.gateway import make_credentials, probe, start_gateway
from bench.nginx import start_upstream
from bench.procs import Service, cpu_seconds
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


Runs = dict[str, list[tuple[RunResult, float]]]


class Profile(dict[str, Any]):
    """What ``--profile`` gives instead of timed runs."""


def run(args: argparse.Namespace, workdir: Path) -> Runs | Profile:
    services: list[Service] = []
    try:
        upstream = start_upstream(workdir)
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
            return Profile(_spy(gateway, load, args.profile, args.concurrency, workdir))
        targets = {"gateway": gateway}
        if args.floor:
            answers = [capture_answer(gateway.url, SCENARIO.load(credentials.token, via_gateway=True))]
            minimal = start_minimal(workdir, answers, "server")
            services.append(minimal)
            run_wrk(minimal.url, load, connections=args.concurrency, duration_s=2)
            targets["minimal"] = minimal
        runs: Runs = {name: [] for name in targets}
        for _ in range(args.repeat):
            for name, target in targets.items():
                before = cpu_seconds(target.pid)
                result = run_wrk(target.url, load, connections=args.concurrency, duration_s=args.seconds)
                runs[name].append((result, cpu_seconds(target.pid) - before))
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
    p.add_argument("--floor", action="store_true", help="alternate with the minimal decision service")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="crmgw-decision-quick-") as tmp:
        outcome = run(args, Path(tmp))
    if isinstance(outcome, Profile):
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
    med = statistics.median
    failed = False
    for name, runs in outcome.items():
        rows = [(r, 1e6 * cpu / max(r.requests, 1)) for r, cpu in runs]
        prefix = f"{name:<8} " if len(outcome) > 1 else ""
        for r, cpu in rows:
            print(
                f"{prefix}{r.requests_per_s:9.1f} req/s  p50 {r.p50_ms:7.3f}  p99 {r.p99_ms:7.3f} ms  "
                f"cpu {cpu:6.1f} us/req  errors {r.error_count}"
            )
        print(
            f"{prefix}median {med(r.requests_per_s for r, _ in rows):.1f} req/s  "
            f"cpu {med(c for _, c in rows):.1f} us/req"
        )
        failed = failed or any(r.error_count for r, _ in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
