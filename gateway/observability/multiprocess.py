"""Metrics shared by several worker processes (prometheus-client multiprocess mode).

prometheus_client decides, when it is first imported, whether metric values live in per-process files
(``$PROMETHEUS_MULTIPROC_DIR`` set) or in memory. ``gateway.observability`` imports it, so
``crm-gateway serve --workers N`` sets the variable in ``cli.py`` before importing anything of the
gateway's; each worker then writes its own ``<kind>_<pid>.db`` files and ``/metrics``, served by
whichever worker, merges them all. This module imports nothing of prometheus_client at module level.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
TEMPORARY_PREFIX = "crmgw-metrics-"
"""``cli.py`` names the directory it creates for a ``--workers`` run that was given none."""


def multiprocess_enabled() -> bool:
    return bool(os.environ.get(ENV))


def clear_stale_files() -> str | None:
    """Empty $PROMETHEUS_MULTIPROC_DIR (created if missing) of a previous run's files; its path.

    Stale files would add that run's counters to this one's and keep dead processes in the ``live*``
    gauges. Call it before any metric is created in this run."""
    path = os.environ.get(ENV)
    if not path:
        return None
    Path(path).mkdir(parents=True, exist_ok=True)
    for stale in Path(path).glob("*.db"):
        stale.unlink()
    return path


def values_shared() -> bool:
    """Whether prometheus_client keeps values in the shared files, i.e. it was first imported with
    $PROMETHEUS_MULTIPROC_DIR already set. Setting the variable after the import is too late."""
    from prometheus_client import values

    return multiprocess_enabled() and values.ValueClass is not values.MutexValue


def mark_worker_dead(pid: int) -> None:
    """Drop a finished worker from the ``live*`` gauges; its counters and histograms stay counted."""
    if multiprocess_enabled():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def remove_dir(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
