"""``run_server(freeze_gc=True)``, as ``crm-gateway serve`` runs it: once listening, the start-up
objects are frozen out of the cyclic collector's reach. Each case runs in a fresh interpreter (freezing
the test process itself would keep its garbage alive)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_server_harness import ROOT, GatewaySite

SCRIPT = """
import asyncio, gc, json, sys, time
from gateway.config.loader import load_config
from gateway.serving import run_server, run_with_best_loop

async def main(freeze):
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_server(
        load_config(sys.argv[1]), None, host="127.0.0.1", port=0, grace=0.1,
        stop=stop, started=started, freeze_gc=freeze,
    ))
    await asyncio.wait_for(started.wait(), 20)
    frozen = gc.get_freeze_count()
    began = time.perf_counter()
    gc.collect()
    full_ms = 1000 * (time.perf_counter() - began)
    stop.set()
    await asyncio.wait_for(task, 20)
    return {"frozen": frozen, "full_collection_ms": full_ms}

print(json.dumps(run_with_best_loop(main(sys.argv[2] == "freeze"))))
"""


def _serve_once(config: Path, mode: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(config), mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return GatewaySite.write(tmp_path_factory.mktemp("gc"), "http://127.0.0.1:9").config


def test_startup_objects_are_frozen_once_listening(config: Path) -> None:
    assert _serve_once(config, "freeze")["frozen"] > 10_000


def test_nothing_is_frozen_without_the_flag(config: Path) -> None:
    assert _serve_once(config, "plain")["frozen"] == 0
