"""`python -m bench.floor_quick --rate R` loads nginx's plain proxy, the bare aiohttp proxy and the gateway at
the same fixed rate in each round and prints each one's latency added over nginx. No timing is asserted:
only that every run kept the rate, answered without errors, and that the printed medians are the rounds'."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from bench.nginx import nginx_binary
from bench.wrk import wrk_binary

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(
    r"^\s+(nginx|aiohttp|gateway)\s+([\d.]+) req/s\s+p50\s+([\d.]+)\s+p99\s+([\d.]+) ms.*errors (\d+)$"
)
ADDED = re.compile(r"(aiohttp|gateway) p50 ([+-][\d.]+) p99 ([+-][\d.]+) ms")

pytestmark = pytest.mark.skipif(wrk_binary() is None or nginx_binary() is None, reason="wrk or nginx missing")


def test_fixed_rate_rounds_print_nginx_and_the_added_latency_of_both_proxies() -> None:
    command = [sys.executable, "-m", "bench.floor_quick", "--scenario", "espo-hmac"]
    command += ["--rate", "100", "-c", "2", "--seconds", "1", "--repeat", "2"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    runs: dict[str, list[tuple[float, float, float]]] = {"nginx": [], "aiohttp": [], "gateway": []}
    for line in done.stdout.splitlines():
        found = LINE.match(line)
        if found:
            label, rate, p50, p99, errors = found.groups()
            assert int(errors) == 0, line
            runs[label].append((float(rate), float(p50), float(p99)))
    assert {label: len(r) for label, r in runs.items()} == {"nginx": 2, "aiohttp": 2, "gateway": 2}
    assert all(60 <= rate <= 140 for r in runs.values() for rate, _, _ in r), runs
    added = {label: (float(p50), float(p99)) for label, p50, p99 in ADDED.findall(done.stdout)}
    for label in ("aiohttp", "gateway"):
        p50 = statistics.median(a[1] - n[1] for a, n in zip(runs[label], runs["nginx"], strict=True))
        p99 = statistics.median(a[2] - n[2] for a, n in zip(runs[label], runs["nginx"], strict=True))
        assert added[label] == pytest.approx((p50, p99), abs=0.0011), (label, done.stdout)


def test_without_a_rate_nginx_is_not_loaded() -> None:
    command = [sys.executable, "-m", "bench.floor_quick", "--scenario", "espo-hmac"]
    command += ["-c", "2", "--seconds", "1", "--repeat", "1"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    labels = [m.group(1) for m in map(LINE.match, done.stdout.splitlines()) if m]
    assert labels == ["aiohttp", "gateway"]
    assert "added over nginx" not in done.stdout
