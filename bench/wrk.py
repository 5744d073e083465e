"""Run wrk (keep-alive HTTP/1.1 load) with bench/lua/bench.lua and read its JSON summary."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

SCRIPT = Path(__file__).parent / "lua" / "bench.lua"
MARKER = "BENCH_JSON "


@dataclass(frozen=True, slots=True)
class Load:
    """What one wrk run sends: method, path, headers and body; ``rate`` 0 means as fast as possible."""

    path: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""


@dataclass(frozen=True, slots=True)
class RunResult:
    requests: int
    duration_s: float
    errors: dict[str, int]
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "requests_per_s": round(self.requests_per_s, 1),
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            "p999_ms": self.p999_ms,
            "mean_ms": self.mean_ms,
            "max_ms": self.max_ms,
            "requests": self.requests,
            "duration_s": round(self.duration_s, 3),
            "errors": self.errors,
        }


def wrk_binary() -> str | None:
    return shutil.which("wrk") or ("/usr/bin/wrk" if os.access("/usr/bin/wrk", os.X_OK) else None)


def wrk_version() -> str:
    binary = wrk_binary()
    if binary is None:
        return "missing"
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10)
    return (out.stdout or out.stderr).splitlines()[0].split(" Copyright")[0].strip()


def _ms(microseconds: float) -> float:
    return round(microseconds / 1000.0, 3)


def parse_output(stdout: str) -> RunResult:
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER) :])
            lat = data["latency_us"]
            return RunResult(
                requests=int(data["requests"]),
                duration_s=data["duration_us"] / 1e6,
                errors={k: int(v) for k, v in data["errors"].items()},
                mean_ms=_ms(lat["mean"]),
                p50_ms=_ms(lat["p50"]),
                p90_ms=_ms(lat["p90"]),
                p99_ms=_ms(lat["p99"]),
                p999_ms=_ms(lat["p999"]),
                max_ms=_ms(lat["max"]),
            )
    raise RuntimeError(f"wrk printed no summary:\n{stdout[-2000:]}")


def run_wrk(
    base_url: str,
    load: Load,
    *,
    connections: int,
    duration_s: int,
    rate: float = 0.0,
    threads: int = 1,
    timeout_s: int = 5,
) -> RunResult:
    """One wrk run of ``duration_s`` whole seconds; ``rate`` > 0 paces it to that many requests/s."""
    binary = wrk_binary()
    if binary is None:
        raise RuntimeError("wrk is not installed (apt-get install -y wrk)")
    threads = max(1, min(threads, connections))
    command = [
        binary,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, int(duration_s))}s",
        f"--timeout={timeout_s}s",
        "-s",
        str(SCRIPT),
    ]
    for name, value in load.headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(base_url.rstrip("/") + load.path)
    env = {
        **os.environ,
        "BENCH_METHOD": load.method,
        "BENCH_BODY": load.body,
        "BENCH_RATE": str(rate / threads if rate > 0 else 0),
    }
    out = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=duration_s + timeout_s + 30, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"wrk exited with {out.returncode}: {out.stderr.strip()[-1000:]}")
    return parse_output(out.stdout)
