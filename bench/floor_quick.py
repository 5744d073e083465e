"""python -m bench.floor_quick [--scenario NAME] [-c C] [--seconds S] [--repeat N] [--rate R]: vs its floor.

The gateway's CPU per request against the bare aiohttp proxy's (bench/passthrough.py, the framework's
floor) for one scenario in one sitting: the nginx JSON upstream, one gateway worker and the bare proxy
as in `python -m bench.run`, a warm-up of each, then N rounds that load the bare proxy and the gateway
in turn; prints each round, the medians and the ratios (the figure issue 17 judges).

``--rate R``: every run at R requests per second instead of as fast as it goes, with nginx's plain proxy
loaded first in each round, and the added p50 / p99 over nginx printed for the bare proxy and the gateway
(how much of the fixed-rate latency target the framework itself takes).
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
from bench.nginx import start_plain_proxy, start_upstream
from bench.procs import Service
from bench.run import check_floor_answers

WARM_UP_S = 2


def cpu_us(measured: Measured) -> float:
    return 1e6 * measured.cpu_s / max(measured.run.requests, 1)


Round = tuple[Measured, Measured, Measured | None]
"""The bare aiohttp proxy, the gateway, and nginx's plain proxy (with ``--rate`` only)."""


def rounds(args: argparse.Namespace, workdir: Path) -> list[Round]:
    """(bare aiohttp, gateway, nginx or None) per round; nginx, then the bare proxy loaded first."""
    scenario = next(s for s in scenarios.ALL if s.name == args.scenario)
    services: list[Service] = []
    try:
        upstream = start_upstream(workdir)
        port = upstream.port
        services.append(upstream)
        creds = make_credentials(upstream.url)
        gateway = start_gateway(workdir, creds)
        services.append(gateway)
        bare = start_passthrough(workdir, upstream.url)
        services.append(bare)
        check_floor_answers(bare, creds.token)
        token = creds.token
        nginx = None
        if args.rate:
            nginx = start_plain_proxy(workdir, port)
            services.append(nginx)

        def one(service: Service, seconds: int) -> Measured:
            return measured_load(
                service,
                scenario,
                token,
                gateway=service is gateway,
                connections=args.concurrency,
                duration_s=seconds,
                rate=args.rate,
            )

        if nginx is not None:
            one(nginx, WARM_UP_S)
        one(bare, WARM_UP_S)
        one(gateway, WARM_UP_S)
        measured: list[Round] = []
        for _ in range(args.repeat):
            theirs = one(nginx, args.seconds) if nginx is not None else None
            measured.append((one(bare, args.seconds), one(gateway, args.seconds), theirs))
        return measured
    finally:
        for service in reversed(services):
            service.stop()


def _line(label: str, measured: Measured) -> str:
    run = measured.run
    return (
        f"  {label:<8} {run.requests_per_s:9.1f} req/s  p50 {run.p50_ms:7.3f}  p99 {run.p99_ms:7.3f} ms  "
        f"cpu {cpu_us(measured):6.1f} us/req  errors {run.error_count}"
    )


def added_latency(measured: Sequence[Round]) -> str:
    """Median over the rounds of each one's p50 and p99 less nginx's in the same round."""
    med = statistics.median
    pairs = [(b.run, g.run, n.run) for b, g, n in measured if n is not None]
    parts = []
    for label, index in (("aiohttp", 0), ("gateway", 1)):
        p50 = med(r[index].p50_ms - r[2].p50_ms for r in pairs)
        p99 = med(r[index].p99_ms - r[2].p99_ms for r in pairs)
        parts.append(f"{label} p50 {p50:+.3f} p99 {p99:+.3f} ms")
    return "added over nginx (median of the rounds): " + "; ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.floor_quick", description=__doc__.splitlines()[0])
    p.add_argument(
        "--scenario", choices=[s.name for s in scenarios.ALL], default=scenarios.CIVI_V3_CHAIN.name
    )
    p.add_argument("-c", "--concurrency", type=int, default=16)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--rate", type=int, default=0, help="requests per second (0: as fast as it goes)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="crmgw-floor-") as tmp:
        measured = rounds(args, Path(tmp))
    for number, (bare, gateway, nginx) in enumerate(measured, 1):
        print(f"round {number}:")
        if nginx is not None:
            print(_line("nginx", nginx))
        print(_line("aiohttp", bare))
        print(_line("gateway", gateway))
    med = statistics.median
    bare_cpu = med(cpu_us(b) for b, _, _ in measured)
    gw_cpu = med(cpu_us(g) for _, g, _ in measured)
    bare_rps = med(b.run.requests_per_s for b, _, _ in measured)
    gw_rps = med(g.run.requests_per_s for _, g, _ in measured)
    print(
        f"{args.scenario} c={args.concurrency}, medians: aiohttp {bare_cpu:.1f} us/req {bare_rps:.0f} req/s; "
        f"gateway {gw_cpu:.1f} us/req {gw_rps:.0f} req/s"
    )
    print(
        f"gateway/aiohttp CPU per request x{gw_cpu / bare_cpu:.2f} (target <= 1.6), "
        f"throughput {gw_rps / bare_rps:.3f}"
    )
    if args.rate:
        print(added_latency(measured))
    errors = sum(b.run.error_count + g.run.error_count for b, g, _ in measured)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
