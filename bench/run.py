"""python -m bench.run [--smoke] [--duration S] [--out FILE]: the gateway against nginx and direct.

Everything listens on 127.0.0.1 and is stopped at the end: nginx returning a fixed JSON body (the
upstream), nginx as a plain reverse proxy to it, and `crm-gateway serve` with bench/gateway.yaml, each
with one worker. wrk drives keep-alive load; the JSON result goes to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import scenarios
from bench.gateway import CONFIG_REDIS, make_credentials, probe, start_gateway, start_passthrough
from bench.machine import load_average, machine_info
from bench.measure import Targets, compare, process_probe, ratio, soak
from bench.nginx import nginx_binary, start_plain_proxy, start_upstream
from bench.procs import Service
from bench.redis import redis_binary, start_redis
from bench.report import summary, targets
from bench.wrk import wrk_binary

RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Plan:
    mode: str
    duration_s: int
    levels: tuple[int, ...]
    main_level: int
    warmup_s: int
    rate: int
    rate_duration_s: int
    rate_connections: int
    soak_requests: int
    soak_max_s: float
    workers_level: int

    @classmethod
    def full(cls, duration_s: int) -> Plan:
        return cls(
            "full", duration_s, (1, 16, 64), 16, 2, 500, max(1, duration_s * 3 // 2), 8, 200_000, 180, 64
        )

    @classmethod
    def smoke(cls, duration_s: int) -> Plan:
        return cls("smoke", duration_s, (16,), 16, 0, 200, duration_s, 4, 1_000, 10, 16)


class Bench:
    def __init__(self, plan: Plan, workdir: Path) -> None:
        self.plan = plan
        self.workdir = workdir
        self.services: list[Service] = []

    def _keep(self, service: Service) -> Service:
        self.services.append(service)
        return service

    def close(self) -> None:
        for service in reversed(self.services):
            service.stop()

    def run(self) -> dict[str, Any]:
        plan = self.plan
        upstream = self._keep(start_upstream(self.workdir))
        nginx = self._keep(start_plain_proxy(self.workdir, upstream.port))
        creds = make_credentials(upstream.url)
        gateway = self._keep(start_gateway(self.workdir, creds))
        where = Targets(direct=upstream, nginx=nginx, gateway=gateway)
        check_answers(where, creds.token)
        token, level = creds.token, plan.main_level
        results: dict[str, Any] = {"meta": self._meta()}
        results["soak"] = soak(
            gateway,
            scenarios.ESPO,
            token,
            requests=plan.soak_requests,
            connections=level,
            warmup_s=plan.warmup_s,
            max_seconds=plan.soak_max_s,
        )
        results["throughput"] = [
            compare(where, scenarios.ESPO, token, connections=c, duration_s=plan.duration_s)
            for c in plan.levels
        ]
        if plan.mode == "full":
            results["throughput"].append(
                compare(where, scenarios.CIVI_V4, token, connections=level, duration_s=plan.duration_s)
            )
        results["framework_floors"] = self._floors(where, upstream, token)
        results["v3_chain"] = compare(
            where, scenarios.CIVI_V3_CHAIN, token, connections=level, duration_s=plan.duration_s
        )
        results["fixed_rate"] = self._fixed(where, scenarios.ESPO, token)
        if plan.mode == "full":
            results["v3_chain"]["fixed_rate"] = self._fixed(
                where, scenarios.CIVI_V3_CHAIN, token, only=("nginx", "gateway")
            )
        # The references for the Redis and two-worker comparisons, measured just before them: other work
        # on the machine drifts over minutes, so back-to-back runs compare better than the matrix above.
        alone = Targets(gateway=gateway)
        memory = compare(alone, scenarios.ESPO, token, connections=level, duration_s=plan.duration_s)[
            "gateway"
        ]
        one_worker = compare(
            alone, scenarios.ESPO, token, connections=plan.workers_level, duration_s=plan.duration_s
        )["gateway"]
        gateway.stop()
        results["redis"] = self._redis(upstream.url, memory)
        results["workers"] = self._workers(creds, where, one_worker)
        results["targets"] = targets(results, level)
        return results

    def _floors(self, where: Targets, upstream: Service, token: str) -> list[dict[str, Any]]:
        """The gateway next to a bare aiohttp proxy, per scenario at the main level: how much of its cost
        is the framework's. Smoke runs skip nginx here (the shape is the same, the run shorter)."""
        bare = self._keep(start_passthrough(self.workdir, upstream.url))
        check_floor_answers(bare, token)
        nginx = where.nginx if self.plan.mode == "full" else None
        both = Targets(nginx=nginx, gateway=where.gateway, aiohttp=bare)
        entries = [
            compare(
                both,
                scenario,
                token,
                connections=self.plan.main_level,
                duration_s=self.plan.duration_s,
            )
            for scenario in scenarios.ALL
        ]
        bare.stop()
        return entries

    def _fixed(self, where: Targets, scenario: scenarios.Scenario, token: str, **kw: Any) -> dict[str, Any]:
        p = self.plan
        return compare(
            where,
            scenario,
            token,
            connections=p.rate_connections,
            duration_s=p.rate_duration_s,
            rate=p.rate,
            **kw,
        )

    def _redis(self, upstream_url: str, memory: dict[str, Any]) -> dict[str, Any]:
        if redis_binary() is None:
            return {"available": False, "reason": "redis-server is not installed"}
        redis = self._keep(start_redis(self.workdir))
        creds = make_credentials(upstream_url, redis_url=f"redis://127.0.0.1:{redis.port}")
        gateway = self._keep(start_gateway(self.workdir, creds, config=CONFIG_REDIS, name="gateway-redis"))
        where = Targets(gateway=gateway)
        plan = self.plan
        level = plan.main_level
        if plan.warmup_s:
            compare(where, scenarios.ESPO, creds.token, connections=level, duration_s=plan.warmup_s)
        measured = compare(
            where,
            scenarios.ESPO,
            creds.token,
            connections=level,
            duration_s=plan.duration_s,
        )
        fixed = self._fixed(where, scenarios.ESPO, creds.token)
        gateway.stop()
        redis.stop()
        return {
            "available": True,
            "concurrency": level,
            "memory": memory,
            "redis": measured["gateway"],
            "redis_vs_memory": ratio(measured["gateway"]["requests_per_s"], memory["requests_per_s"]),
            "cpu_per_request_redis_vs_memory": ratio(
                measured["gateway"]["cpu_us_per_request"] or 0.0, memory["cpu_us_per_request"] or 0.0
            ),
            "fixed_rate": fixed,
        }

    def _workers(self, creds: Any, where: Targets, one: dict[str, Any]) -> dict[str, Any]:
        gateway = self._keep(start_gateway(self.workdir, creds, workers=2, name="gateway-2w"))
        plan = self.plan
        both = Targets(gateway=gateway)
        level = plan.workers_level
        if plan.warmup_s:
            compare(both, scenarios.ESPO, creds.token, connections=level, duration_s=plan.warmup_s)
        two = compare(
            both,
            scenarios.ESPO,
            creds.token,
            connections=level,
            duration_s=plan.duration_s,
        )
        processes = process_probe(gateway)
        gateway.stop()
        cpus = machine_info()["cpus"]
        return {
            "concurrency": level,
            "one": one,
            "two": two["gateway"],
            "two_vs_one": ratio(two["gateway"]["requests_per_s"], one["requests_per_s"]),
            "cpu_per_request_two_vs_one": ratio(
                two["gateway"]["cpu_us_per_request"] or 0.0, one["cpu_us_per_request"] or 0.0
            ),
            "two_workers_rss_kib": processes["rss_kib"],
            "cpus": cpus,
            "cores_allow": cpus >= 4,
        }

    def _meta(self) -> dict[str, Any]:
        p = self.plan
        return {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "loadavg_at_start": load_average(),
            "mode": p.mode,
            "machine": machine_info(),
            "plan": {
                "duration_s": p.duration_s,
                "levels": list(p.levels),
                "main_level": p.main_level,
                "fixed_rate_per_s": p.rate,
                "fixed_rate_duration_s": p.rate_duration_s,
                "soak_requests": p.soak_requests,
                "wrk": "1 thread, keep-alive, bench/lua/bench.lua (fixed rate through delay())",
            },
            "scenarios": {s.name: s.description for s in scenarios.ALL},
        }


def check_answers(where: Targets, token: str) -> None:
    """Every scenario answers 200 on every target before any load (a 401/403 would measure refusals)."""
    for scenario in scenarios.ALL:
        for name in ("direct", "nginx", "gateway"):
            service = getattr(where, name)
            load = scenario.load(token, via_gateway=name == "gateway")
            status, body = probe(service.url + load.path, load.method, dict(load.headers), load.body)
            if status != 200:
                raise RuntimeError(f"{scenario.name} via {name} answered {status}: {body[:300]!r}")


def check_floor_answers(bare: Service, token: str) -> None:
    """The bare aiohttp proxy answers 200 to every scenario, its body (a v3 chain's form) included."""
    for scenario in scenarios.ALL:
        load = scenario.load(token, via_gateway=False)
        status, body = probe(bare.url + load.path, load.method, dict(load.headers), load.body)
        if status != 200:
            raise RuntimeError(f"{scenario.name} via the aiohttp floor answered {status}: {body[:300]!r}")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="a few seconds, every section once (CI)")
    p.add_argument(
        "--duration", type=int, default=None, help="seconds per throughput run (full: 6, smoke: 1)"
    )
    p.add_argument("--out", type=Path, default=None, help="JSON result file (default bench/results/...)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    missing = [name for name, found in (("wrk", wrk_binary()), ("nginx", nginx_binary())) if found is None]
    if missing:
        print(f"missing: {', '.join(missing)} (apt-get install -y wrk nginx-light)", file=sys.stderr)
        return 2
    plan = Plan.smoke(args.duration or 1) if args.smoke else Plan.full(args.duration or 6)
    out: Path = args.out or RESULTS / f"{plan.mode}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="crmgw-bench-") as tmp:
        bench = Bench(plan, Path(tmp))
        try:
            results = bench.run()
        finally:
            bench.close()
    results["meta"]["wall_seconds"] = round(time.monotonic() - started, 1)
    results["meta"]["loadavg_at_end"] = load_average()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(summary(results))
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
