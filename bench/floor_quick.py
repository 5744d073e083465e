"""python -m bench.floor_quick [--scenario NAME] [-c C] [--seconds S] [--repeat N]: gateway vs its floor.

The gateway's CPU per request against the bare aiohttp proxy's (bench/passthrough.py, the framework's
floor) for one scenario in one sitting: the nginx JSON upstream, one gateway worker and the bare proxy
as in `python -m bench.run`, a warm-up of each, then N rounds that load the bare proxy and the gateway
in turn; prints each round, the medians and the ratios (the figure issue 17 judges).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench import scenarios
from bench.gateway import make_credentials, start_gateway, start_passthrough
from bench.measure import Measured
from bench.measure import load as measured_load
from bench.nginx import start_nginx, upstream_conf
from bench.procs import Service, free_port
from bench.run import check_floor_answers

WARM_UP_S = 2


def cpu_us(measured: Measured) -> float:
    return 1e6 * measured.cpu_s / max(measured.run.requests, 1)


def rounds(args: argparse.Namespace, workdir: Path) -> list[tuple[Measured, Measured]]:
    """(bare aiohttp, gateway) per round, the bare proxy loaded first each time."""
    scenario = next(s for s in scenarios.ALL if s.name == args.scenario)
    services: list[Service] = []
    try:
        port = free_port()
        upstream = start_nginx(workdir, "upstream", upstream_conf(workdir, port), port)
        services.append(upstream)
        creds = make_credentials(upstream.url)
        gateway = start_gateway(workdir, creds)
        services.append(gateway)
        bare = start_passthrough(workdir, upstream.url)
        services.append(bare)
        check_floor_answers(bare, creds.token)
        token = creds.token

        def one(service: Service, seconds: int) -> Measured:
            return measured_load(
                service,
                scenario,
                token,
                gateway=service is gateway,
                connections=args.concurrency,
                duration_s=seconds,
            )

        one(bare, WARM_UP_S)
        one(gateway, WARM_UP_S)
        return [(one(bare, args.seconds), one(gateway, args.seconds)) for _ in range(args.repeat)]
    finally:
        for service in reversed(services):
            service.stop()


def _line(label: str, measured: Measured) -> str:
    run = measured.run
    return (
        f"  {label:<8} {run.requests_per_s:9.1f} req/s  p50 {run.p50_ms:7.3f}  p99 {run.p99_ms:7.3f} ms  "
        f"cpu {cpu_us(measured):6.1f} us/req  errors {run.error_count}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.floor_quick", description=__doc__.splitlines()[0])
    p.add_argument(
        "--scenario", choices=[s.name for s in scenarios.ALL], default=scenarios.CIVI_V3_CHAIN.name
    )
    p.add_argument("-c", "--concurrency", type=int, default=16)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="crmgw-floor-") as tmp:
        measured = rounds(args, Path(tmp))
    for number, (bare, gateway) in enumerate(measured, 1):
        print(f"round {number}:")
        print(_line("aiohttp", bare))
        print(_line("gateway", gateway))
    med = statistics.median
    bare_cpu = med(cpu_us(b) for b, _ in measured)
    gw_cpu = med(cpu_us(g) for _, g in measured)
    bare_rps = med(b.run.requests_per_s for b, _ in measured)
    gw_rps = med(g.run.requests_per_s for _, g in measured)
    print(
        f"{args.scenario} c={args.concurrency}, medians: aiohttp {bare_cpu:.1f} us/req {bare_rps:.0f} req/s; "
        f"gateway {gw_cpu:.1f} us/req {gw_rps:.0f} req/s"
    )
    print(
        f"gateway/aiohttp CPU per request x{gw_cpu / bare_cpu:.2f} (target <= 1.6), "
        f"throughput {gw_rps / bare_rps:.3f}"
    )
    errors = sum(b.run.error_count + g.run.error_count for b, g in measured)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
