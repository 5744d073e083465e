"""A throw-away redis-server for the Redis limiter run: free port, loopback only, no persistence."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from bench.procs import Service, free_port, wait_for_port


def redis_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    return "/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None


def start_redis(workdir: Path) -> Service:
    binary = redis_binary()
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install -y redis-server)")
    port = free_port()
    log_path = workdir / "redis.log"
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command += ["--dir", str(workdir)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    service = Service("redis-server", process, port)
    wait_for_port(service, log_path)
    return service
