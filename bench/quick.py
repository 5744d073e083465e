"""python -m bench.quick [--scenario NAME] [-c C] [--seconds S] [--repeat N] [--rate R] [--nginx]: gateway.

The before/after check for one optimisation: the nginx JSON upstream and one gateway worker as in
`python -m bench.run`, a warm-up, then N runs of one scenario; prints each run and the medians.
``--nginx`` also measures nginx as a plain proxy to the same upstream, alternated with the gateway run
by run (as `bench.run` measures it, same load), and prints the gateway's added p50 / p99 latency.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench import scenarios
from bench.gateway import CONFIG, CONFIG_REDIS, make_credentials, start_gateway
from bench.measure import Measured
from bench.measure import load as measured_load
from bench.nginx import start_plain_proxy, start_upstream
from bench.procs import Service
from bench.redis import start_redis


def quick(args: argparse.Namespace, workdir: Path) -> tuple[list[Measured], list[Measured]]:
    """The gateway's runs, and nginx's plain proxy runs (alternated with them) when ``args.nginx``."""
    scenario = next(s for s in scenarios.ALL if s.name == args.scenario)
    services: list[Service] = []
    try:
        upstream = start_upstream(workdir)
        port = upstream.port
        services.append(upstream)
        redis_url = ""
        if args.redis:
            redis = start_redis(workdir)
            services.append(redis)
            redis_url = f"redis://127.0.0.1:{redis.port}"
        creds = make_credentials(upstream.url, redis_url)
        config = CONFIG_REDIS if args.redis else CONFIG
        gateway = start_gateway(workdir, creds, config=config, workers=args.workers)
        services.append(gateway)
        token = creds.token
        nginx = None
        if args.nginx:
            nginx = start_plain_proxy(workdir, port)
            services.append(nginx)
            measured_load(nginx, scenario, token, gateway=False, connections=args.concurrency, duration_s=2)
        measured_load(gateway, scenario, token, gateway=True, connections=args.concurrency, duration_s=2)
        ours: list[Measured] = []
        theirs: list[Measured] = []
        for _ in range(args.repeat):
            for service, runs in ((nginx, theirs), (gateway, ours)):
                if service is not None:
                    runs.append(
                        measured_load(
                            service,
                            scenario,
                            token,
                            gateway=service is gateway,
                            connections=args.concurrency,
                            duration_s=args.seconds,
                            rate=args.rate,
                        )
                    )
        return ours, theirs
    finally:
        for service in reversed(services):
            service.stop()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.quick", description=__doc__.splitlines()[0])
    p.add_argument("--scenario", choices=[s.name for s in scenarios.ALL], default=scenarios.ESPO.name)
    p.add_argument("-c", "--concurrency", type=int, default=16)
    p.add_argument("--seconds", type=int, default=8)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--rate", type=int, default=0)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--redis", action="store_true", help="the Redis limiter (bench/gateway-redis.yaml)")
    p.add_argument("--nginx", action="store_true", help="also nginx as a plain proxy, alternated")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="crmgw-quick-") as tmp:
        runs, nginx_runs = quick(args, Path(tmp))
    rows = [(m.run, 1e6 * m.cpu_s / max(m.run.requests, 1)) for m in runs]
    for run, cpu in rows:
        print(
            f"{run.requests_per_s:9.1f} req/s  p50 {run.p50_ms:7.3f}  p90 {run.p90_ms:7.3f}  "
            f"p99 {run.p99_ms:7.3f} ms  cpu {cpu:6.1f} us/req  errors {run.error_count}"
        )
    med = statistics.median
    print(
        f"median {med(r.requests_per_s for r, _ in rows):.1f} req/s  "
        f"p50 {med(r.p50_ms for r, _ in rows):.3f}  "
        f"p90 {med(r.p90_ms for r, _ in rows):.3f}  p99 {med(r.p99_ms for r, _ in rows):.3f} ms  "
        f"cpu {med(c for _, c in rows):.1f} us/req"
    )
    if nginx_runs:
        for m in nginx_runs:
            run = m.run
            print(f"nginx {run.requests_per_s:9.1f} req/s  p50 {run.p50_ms:7.3f}  p99 {run.p99_ms:7.3f} ms")
        theirs = [m.run for m in nginx_runs]
        added = [(r.p50_ms - n.p50_ms, r.p99_ms - n.p99_ms) for (r, _), n in zip(rows, theirs, strict=True)]
        print(
            f"nginx median p50 {med(n.p50_ms for n in theirs):.3f}  "
            f"p99 {med(n.p99_ms for n in theirs):.3f} ms; "
            f"added (per pair) p50 {' '.join(f'{a:+.3f}' for a, _ in added)}  "
            f"p99 {' '.join(f'{b:+.3f}' for _, b in added)}; "
            f"median added p50 {med(a for a, _ in added):+.3f}  p99 {med(b for _, b in added):+.3f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
