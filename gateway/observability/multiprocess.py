"""Metrics shared by several worker processes (prometheus-client multiprocess mode).

The directory must be chosen before prometheus_client is first imported, so this module imports
nothing of it; ``crm-gateway serve --workers N`` calls ``prepare_multiprocess_dir`` first.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir() -> str:
    """Use $PROMETHEUS_MULTIPROC_DIR (or a new temporary directory), emptied of stale files."""
    path = os.environ.get(ENV) or tempfile.mkdtemp(prefix="crmgw-metrics-")
    os.environ[ENV] = path
    Path(path).mkdir(parents=True, exist_ok=True)
    for stale in Path(path).glob("*.db"):
        stale.unlink()
    return path


def multiprocess_enabled() -> bool:
    return bool(os.environ.get(ENV))


def mark_worker_dead(pid: int) -> None:
    if multiprocess_enabled():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
