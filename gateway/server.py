"""``crm-gateway serve``: load the config, set up logging, then serve in this process or N workers."""

from __future__ import annotations

import logging
import signal

from gateway.config.loader import load_config
from gateway.observability.logging import setup_logging
from gateway.observability.multiprocess import clear_stale_files, remove_dir
from gateway.observability.redact import register_secret
from gateway.serving import ListenError, run_server, run_with_best_loop
from gateway.supervisor import supervise

__all__ = ["run_server", "serve"]

log = logging.getLogger("gateway.server")


def serve(
    path: str,
    *,
    host: str | None,
    port: int | None,
    workers: int,
    grace: float,
    watch: bool,
    remove_metrics_dir: str | None = None,
) -> int:
    """``crm-gateway serve``: the exit status. ``remove_metrics_dir``: a temporary multiprocess metrics
    directory to delete at exit."""
    try:
        return _serve(path, host=host, port=port, workers=workers, grace=grace, watch=watch)
    finally:
        if remove_metrics_dir is not None:
            remove_dir(remove_metrics_dir)


def _serve(path: str, *, host: str | None, port: int | None, workers: int, grace: float, watch: bool) -> int:
    # Until the event loop takes SIGHUP over, a reload request must not kill the process (the default).
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    config = load_config(path)
    setup_logging(config.observability.log_level.upper(), json=True)
    for secret in config.secrets:
        register_secret(secret)
    for warning in config.warnings:
        log.warning("%s", warning)
    clear_stale_files()
    bind_host = host or config.listen.host
    bind_port = port if port is not None else config.listen.port
    if workers > 1:
        return supervise(
            config,
            path,
            bind_host,
            bind_port,
            workers=workers,
            grace=grace,
            watch=watch,
        )
    try:
        run_with_best_loop(
            run_server(
                config,
                path,
                host=bind_host,
                port=bind_port,
                grace=grace,
                watch=watch,
                freeze_gc=True,
            )
        )
    except ListenError as exc:
        log.error("%s", exc)
        return 1
    return 0
