"""python -m bench.profile [--seconds S] [--scenario NAME] [--concurrency C]: where the gateway's CPU goes.

Starts the nginx JSON upstream and the gateway as `python -m bench.run` does, loads one scenario with wrk
and samples the gateway with py-spy (install it into the venv for profiling only: `pip install py-spy`).
Prints the functions with the largest self and inclusive share of the busy samples (idle time waiting in
the event loop is not sampled) and writes them, with the raw collapsed stacks, to a JSON file.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import scenarios
from bench.gateway import CONFIG, CONFIG_REDIS, make_credentials, start_gateway
from bench.nginx import start_upstream
from bench.procs import Service
from bench.redis import start_redis
from bench.wrk import RunResult, run_wrk

RESULTS = Path(__file__).parent / "results"


def _function(frame: str) -> str:
    """``handle (gateway/pipeline.py:42)`` -> ``handle (gateway/pipeline.py)``: lines merged per function."""
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0] if where else ""
    for marker in ("site-packages/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1].lstrip("/")
            break
    path = path.replace(str(Path.cwd()) + "/", "")
    return f"{name} ({path})" if path else name


def aggregate(collapsed: str, top: int = 25) -> dict[str, Any]:
    """Self and inclusive sample shares per function from py-spy's ``--format raw`` output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_function(f) for f in stack.split(";") if f and not f.startswith("process ")]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for function in set(frames):
            inclusive[function] += count

    def share(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"function": f, "samples": n, "pct": round(100.0 * n / total, 1)}
            for f, n in counter.most_common(top)
        ]

    return {"samples": total, "self": share(own), "inclusive": share(inclusive)}


def profile(
    seconds: int,
    scenario: scenarios.Scenario,
    connections: int,
    rate: int,
    workdir: Path,
    *,
    redis: bool = False,
) -> dict[str, Any]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy (profiling only)")
    services: list[Service] = []
    try:
        upstream = start_upstream(workdir)
        services.append(upstream)
        redis_url = ""
        if redis:
            limiter_store = start_redis(workdir)
            services.append(limiter_store)
            redis_url = f"redis://127.0.0.1:{limiter_store.port}"
        creds = make_credentials(upstream.url, redis_url)
        gateway = start_gateway(workdir, creds, config=CONFIG_REDIS if redis else CONFIG)
        services.append(gateway)
        run_wrk(
            gateway.url, scenario.load(creds.token, via_gateway=True), connections=connections, duration_s=2
        )
        raw = workdir / "profile.txt"
        result: dict[str, RunResult] = {}

        def drive() -> None:
            load = scenario.load(creds.token, via_gateway=True)
            result["run"] = run_wrk(
                gateway.url, load, connections=connections, duration_s=seconds + 1, rate=rate
            )

        loader = threading.Thread(target=drive)
        loader.start()
        time.sleep(0.5)
        command = [spy, "record", "--pid", str(gateway.pid), "--duration", str(seconds), "--rate", "250"]
        command += ["--format", "raw", "--output", str(raw)]
        subprocess.run(command, check=True, capture_output=True, timeout=seconds + 60)
        loader.join()
        collapsed = raw.read_text()
    finally:
        for service in reversed(services):
            service.stop()
    summary = aggregate(collapsed)
    summary["load"] = {
        "scenario": scenario.name,
        "concurrency": connections,
        "rate_per_s": rate or None,
        "limiter": "redis" if redis else "memory",
        **result["run"].as_dict(),
    }
    summary["collapsed"] = collapsed
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--scenario", choices=[s.name for s in scenarios.ALL], default=scenarios.ESPO.name)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rate", type=int, default=0, help="fixed rate (requests/s); 0 = as fast as possible")
    p.add_argument("--redis", action="store_true", help="the Redis limiter (bench/gateway-redis.yaml)")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    scenario = next(s for s in scenarios.ALL if s.name == args.scenario)
    with tempfile.TemporaryDirectory(prefix="crmgw-profile-") as tmp:
        summary = profile(args.seconds, scenario, args.concurrency, args.rate, Path(tmp), redis=args.redis)
    tag = f"{scenario.name}{'-redis' if args.redis else ''}"
    out: Path = args.out or RESULTS / f"profile-{tag}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    load = summary["load"]
    print(
        f"{scenario.name} c={args.concurrency}: {load['requests_per_s']} req/s; {summary['samples']} samples"
    )
    for kind in ("self", "inclusive"):
        print(f"\ntop {kind}:")
        for row in summary[kind][: args.top]:
            print(f"  {row['pct']:5.1f} %  {row['function']}")
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
