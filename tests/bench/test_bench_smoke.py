"""`python -m bench.run --smoke` runs end to end against real nginx, wrk and the gateway and writes a
well-formed result. No timing is asserted: CI machines are too varied for that."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.nginx import nginx_binary
from bench.profile import aggregate
from bench.redis import redis_binary
from bench.wrk import parse_output, wrk_binary

ROOT = Path(__file__).resolve().parents[2]
RUN_KEYS = {"requests_per_s", "p50_ms", "p90_ms", "p99_ms", "requests", "errors", "cpu_us_per_request"}
TOP_KEYS = {
    "meta",
    "throughput",
    "framework_floors",
    "v3_chain",
    "fixed_rate",
    "redis",
    "soak",
    "workers",
    "targets",
}
SOAK_KEYS = {"requests", "rss_kib_before", "rss_kib_after", "rss_growth_pct", "fds_before", "fds_after"}

needs_tools = pytest.mark.skipif(
    wrk_binary() is None or nginx_binary() is None, reason="wrk or nginx not installed"
)


def assert_run(run: dict[str, Any], where: str) -> None:
    assert set(run) >= RUN_KEYS, where
    assert run["requests"] > 0, where
    assert run["errors"]["status"] == 0, f"{where}: non-2xx answers were measured"
    assert 0 < run["p50_ms"] <= run["p90_ms"] <= run["p99_ms"], where


@needs_tools
@pytest.mark.timeout(150)
def test_smoke_run_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "smoke.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=140,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(out.read_text())
    assert set(data) >= TOP_KEYS
    assert data["meta"]["mode"] == "smoke"
    first = data["throughput"][0]
    for name in ("direct", "nginx", "gateway"):
        assert_run(first[name], f"throughput {name}")
        assert_run(data["v3_chain"][name], f"v3 chain {name}")
        assert_run(data["fixed_rate"][name], f"fixed rate {name}")
    assert first["gateway_vs_nginx"] > 0
    floors = {entry["scenario"]: entry for entry in data["framework_floors"]}
    assert set(floors) == {"espo-hmac", "civi-v4-authx", "civi-v3-chain"}
    for scenario, floor in floors.items():
        for name in ("aiohttp", "gateway"):
            assert_run(floor[name], f"floor {scenario} {name}")
        assert floor["gateway_vs_aiohttp"] > 0 and floor["cpu_per_request_gateway_vs_aiohttp"] > 0
    judged = {t["name"].split(",")[0]: t for t in data["targets"] if t["name"].startswith("floor:")}
    v3 = judged["floor: CiviCRM v3 chain POST CPU per request / bare aiohttp proxy"]
    assert v3["measured"] == floors["civi-v3-chain"]["cpu_per_request_gateway_vs_aiohttp"]
    assert v3["met"] is (v3["measured"] <= 1.6)
    assert set(data["fixed_rate"]["added_ms_vs_nginx"]) == {"p50", "p90", "p99"}
    assert set(data["soak"]) >= SOAK_KEYS and data["soak"]["complete"]
    assert_run(data["workers"]["two"], "two workers")
    assert data["redis"]["available"] is (redis_binary() is not None)
    if data["redis"]["available"]:
        assert_run(data["redis"]["redis"], "redis limiter")
    assert {t["name"].split(" ")[0] for t in data["targets"]} >= {
        "throughput",
        "added",
        "RSS",
        "--workers",
        "floor:",
    }
    assert "targets (reported, not asserted)" in done.stdout


def test_wrk_summary_line_is_parsed_into_milliseconds() -> None:
    stdout = (
        "Running 1s test\n"
        'BENCH_JSON {"requests":2000,"duration_us":1000000,"bytes":1,'
        '"errors":{"connect":0,"read":1,"write":0,"status":3,"timeout":0},'
        '"latency_us":{"mean":512.5,"stdev":1.0,"max":9000,"p50":500,"p90":900,"p99":4000,"p999":8000}}\n'
    )
    run = parse_output(stdout)
    assert (run.requests_per_s, run.p50_ms, run.p99_ms, run.error_count) == (2000.0, 0.5, 4.0, 4)


def test_profile_shares_count_each_function_once_per_stack() -> None:
    collapsed = "\n".join(
        [
            "main (a.py:1);handle (gateway/pipeline.py:10);handle (gateway/pipeline.py:12) 3",
            "main (a.py:1);send (gateway/pipeline.py:20) 1",
        ]
    )
    shares = aggregate(collapsed)
    inclusive = {row["function"]: row["pct"] for row in shares["inclusive"]}
    own = {row["function"]: row["pct"] for row in shares["self"]}
    assert shares["samples"] == 4
    assert inclusive["handle (gateway/pipeline.py)"] == 75.0
    assert inclusive["main (a.py)"] == 100.0
    assert own == {"handle (gateway/pipeline.py)": 75.0, "send (gateway/pipeline.py)": 25.0}
