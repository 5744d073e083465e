"""crm-gateway serve: run the app, drain on SIGTERM, reload on SIGHUP, N workers on one port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time

from aiohttp import web

from gateway.app import build_admin_app, build_app
from gateway.config.loader import load_config
from gateway.config.model import GatewayConfig
from gateway.observability.logging import register_secret, setup_logging
from gateway.observability.multiprocess import mark_worker_dead
from gateway.reload import Reloader

log = logging.getLogger("gateway.server")


def _install_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()


async def run_server(
    config: GatewayConfig,
    config_path: str | None,
    *,
    host: str,
    port: int,
    grace: float,
    reuse_port: bool = False,
    watch: bool = False,
    stop: asyncio.Event | None = None,
    started: asyncio.Event | None = None,
) -> None:
    app = build_app(config)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=grace)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None, backlog=1024)
    await site.start()
    admin_runner: web.AppRunner | None = None
    if config.observability.admin_port is not None:
        admin_runner = web.AppRunner(build_admin_app(app), access_log=None, handle_signals=False)
        await admin_runner.setup()
        admin_host = config.observability.admin_host or host
        await web.TCPSite(
            admin_runner, admin_host, config.observability.admin_port, reuse_port=reuse_port or None
        ).start()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    reloader = Reloader(app, config_path) if config_path else None
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        if reloader is not None:
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(reloader.reload("signal")))
    watcher = loop.create_task(reloader.watch()) if reloader is not None and watch else None
    log.info("listening on %s:%s (pid %s)", host, port, os.getpid())
    if started is not None:
        started.set()
    await stop.wait()
    log.info("draining for up to %.0f s", grace)
    if watcher is not None:
        watcher.cancel()
    if admin_runner is not None:
        await admin_runner.cleanup()
    await runner.cleanup()
    if reloader is not None:
        await reloader.close()


def serve(path: str, *, host: str | None, port: int | None, workers: int, grace: float, watch: bool) -> int:
    config = load_config(path)
    setup_logging(config.observability.log_level.upper(), json=True)
    for secret in config.secrets:
        register_secret(secret)
    for warning in config.warnings:
        log.warning("%s", warning)
    bind_host = host or config.listen.host
    bind_port = port if port is not None else config.listen.port
    if workers <= 1:
        _install_uvloop()
        asyncio.run(run_server(config, path, host=bind_host, port=bind_port, grace=grace, watch=watch))
        return 0
    return _supervise(config, path, bind_host, bind_port, workers, grace, watch)


def _supervise(
    config: GatewayConfig, path: str, host: str, port: int, workers: int, grace: float, watch: bool
) -> int:
    if not hasattr(socket, "SO_REUSEPORT"):
        print("--workers needs SO_REUSEPORT, which this platform lacks", file=sys.stderr)
        return 2
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            _install_uvloop()
            try:
                asyncio.run(
                    run_server(config, path, host=host, port=port, grace=grace, reuse_port=True, watch=watch)
                )
            finally:
                os._exit(0)
        children.append(pid)

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGHUP, forward)
    deadline: float | None = None
    while children:
        try:
            pid, _ = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid in children:
            children.remove(pid)
            mark_worker_dead(pid)
        if deadline is None:
            deadline = time.monotonic() + grace
    return 0
