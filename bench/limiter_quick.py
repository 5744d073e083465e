"""python -m bench.limiter_quick [-c C] [--hits N] [--repeat R]: the Redis limiter's client CPU per hit.

A local redis-server, one RedisLimiter, ``C`` coroutines calling ``hit`` with two limits (as a request
charged a gateway-wide and a per-principal limit is), ``N`` hits per run; prints the process CPU time per
hit of each run (``time.process_time``, redis-server not included) and the min and median.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.redis import start_redis
from gateway.ratelimit.base import Limit, limit_key
from gateway.ratelimit.redis import RedisLimiter
from gateway.serving import run_with_best_loop


async def measure(url: str, concurrency: int, hits: int, repeat: int) -> list[float]:
    limiter = RedisLimiter(url, timeout_ms=1000)
    limits = [Limit(limit_key("bench", "a"), 1e6, 1000, "a"), Limit(limit_key("bench", "b"), 1e6, 1000, "b")]

    async def worker(count: int) -> None:
        for _ in range(count):
            await limiter.hit(limits, 1)

    per_worker = max(1, hits // concurrency)
    runs = []
    try:
        await asyncio.gather(*(worker(20) for _ in range(concurrency)))  # connections, script loaded
        for _ in range(repeat):
            started = time.process_time()
            await asyncio.gather(*(worker(per_worker) for _ in range(concurrency)))
            runs.append(1e6 * (time.process_time() - started) / (per_worker * concurrency))
    finally:
        await limiter.close()
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.limiter_quick", description=__doc__.splitlines()[0])
    p.add_argument("-c", "--concurrency", type=int, default=16)
    p.add_argument("--hits", type=int, default=4000)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="crmgw-limiter-") as tmp:
        server = start_redis(Path(tmp))
        try:
            runs = run_with_best_loop(
                measure(f"redis://127.0.0.1:{server.port}", args.concurrency, args.hits, args.repeat)
            )
        finally:
            server.stop()
    for cpu in runs:
        print(f"cpu {cpu:6.1f} us/hit")
    print(f"min {min(runs):.1f} median {statistics.median(runs):.1f} us/hit (client CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
