"""python -m bench.instructions [--requests N] [--scenario NAME] [-c C]: instructions per request.

CPU time per request on a shared machine moves by 10 % from one run to the next, more than most single
optimisations save. This counts what the gateway's code does instead: the gateway runs under valgrind's
callgrind with counting off, serves a warm-up, then counts the user-space instructions of exactly N
requests (sent by an in-process aiohttp client over C keep-alive connections, so none is cut off at
the end). Two runs of the same tree agree within about 1 %. Kernel work (socket reads and writes) is
not counted, so a change that saves system calls shows in ``bench.quick`` only. Needs valgrind.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import aiohttp

from bench import scenarios
from bench.gateway import CONFIG, _wait_ready, make_credentials
from bench.nginx import start_upstream
from bench.procs import Service, free_port, wait_for_port
from bench.wrk import Load

WARM_UP = 150
START_TIMEOUT_S = 300.0


async def drive(url: str, load: Load, requests: int, connections: int) -> int:
    """Send exactly ``requests`` requests over ``connections`` keep-alive connections; the count of
    answers other than 200."""
    left, bad = requests, 0
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def worker() -> None:
            nonlocal left, bad
            while left > 0:
                left -= 1
                body = load.body.encode() or None
                async with http.request(load.method, url + load.path, headers=load.headers, data=body) as r:
                    await r.read()
                    bad += r.status != 200

        await asyncio.gather(*(worker() for _ in range(connections)))
    return bad


def total_instructions(out: Path) -> int:
    """The largest ``totals:`` of the callgrind files written for ``out`` (one per dump)."""
    total = 0
    for path in out.parent.glob(out.name + "*"):
        for line in path.read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
    return total


def count(scenario: scenarios.Scenario, requests: int, connections: int, workdir: Path) -> tuple[int, int]:
    """(instructions, answers other than 200) for ``requests`` requests of ``scenario``."""
    services: list[Service] = []
    try:
        upstream = start_upstream(workdir)
        services.append(upstream)
        creds = make_credentials(upstream.url)
        out = workdir / "callgrind.out"
        gateway_port = free_port()
        command = [
            *("valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"),
            *(sys.executable, "-m", "gateway.cli"),
            *("serve", "--config", str(CONFIG), "--port", str(gateway_port), "--grace-seconds", "2"),
        ]
        env = {**os.environ, **creds.environ}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        log_path = workdir / "gateway.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, env=env)
        gateway = Service("gateway", process, gateway_port)
        services.append(gateway)
        wait_for_port(gateway, log_path, timeout=START_TIMEOUT_S)
        _wait_ready(gateway, log_path, timeout=START_TIMEOUT_S)
        load = scenario.load(creds.token, via_gateway=True)
        asyncio.run(drive(gateway.url, load, WARM_UP, connections))
        control = ("callgrind_control",)
        subprocess.run([*control, "-i", "on", str(process.pid)], check=True, capture_output=True)
        bad = asyncio.run(drive(gateway.url, load, requests, connections))
        subprocess.run([*control, "-i", "off", str(process.pid)], check=True, capture_output=True)
        subprocess.run([*control, "-d", str(process.pid)], check=True, capture_output=True)
        return total_instructions(out), bad
    finally:
        for service in reversed(services):
            service.stop()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__.splitlines()[0])
    p.add_argument("--scenario", choices=[s.name for s in scenarios.ALL], default=scenarios.ESPO.name)
    p.add_argument("-c", "--concurrency", type=int, default=16)
    p.add_argument("--requests", type=int, default=600)
    args = p.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("bench.instructions needs valgrind (callgrind and callgrind_control)", file=sys.stderr)
        return 2
    scenario = next(s for s in scenarios.ALL if s.name == args.scenario)
    with tempfile.TemporaryDirectory(prefix="crmgw-instr-") as tmp:
        total, bad = count(scenario, args.requests, args.concurrency, Path(tmp))
    print(f"{scenario.name} c={args.concurrency}: {total / args.requests:,.0f} instructions per request")
    if bad:
        print(f"{bad} answers were not 200: the figure counts them too", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
