"""One serving process: run the app, drain on SIGTERM, reload on SIGHUP (``--workers`` forks these).

Shutdown (SIGTERM or SIGINT) fits in ``grace`` seconds, counted once: the listening socket closes at
once (new connections are refused), idle keep-alive connections close, requests in flight get until
``grace`` less ``CLOSE_RESERVE`` to finish; any still running then is cancelled, its client connection
closed without a response (the client sees a disconnect), and counted in a warning. The reserve is for
closing the upstream pools, the limiter and the JWKS refreshers; then the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import resource
import signal
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from aiohttp import web

from gateway.app import build_admin_app, build_app
from gateway.config.model import GatewayConfig
from gateway.dispatch import proxy_dispatcher
from gateway.inflight import track_inflight
from gateway.keys import METRICS
from gateway.protocol import ConnectionLimits, GatewayRunner
from gateway.reload import Reloader

log = logging.getLogger("gateway.server")

T = TypeVar("T")
STARTUP_FAILED = 3
"""A worker's exit status when it could not start serving (e.g. the port is taken)."""
CLOSE_RESERVE = 1.0
"""Seconds of the grace period kept for closing pools and connections after the drain (at most a
fifth of the grace period)."""
ADMIN_SHUTDOWN_SECONDS = 0.5
FD_RESERVE = 128
"""File descriptors kept for upstream connections, Redis, the JWKS client and files."""
DEFAULT_MAX_CONNECTIONS = 1000
"""File descriptors kept for upstream connections, Redis, the JWKS client and files."""


class ListenError(Exception):
    """The gateway could not open its listening socket; the message is safe to log."""


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when uvloop is installed, else None (asyncio's own)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_with_best_loop(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on uvloop when it is installed."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


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
    freeze_gc: bool = False,
) -> None:
    """Serve until ``stop`` is set (or SIGTERM/SIGINT), then drain. ``config_path`` enables reloads
    (SIGHUP, and file changes with ``watch``): what it would read anew comes from ``config.sources``.
    ``freeze_gc``: once listening, move everything start-up built out of the cyclic collector's reach
    (for a process that only serves; see ``freeze_startup_objects``)."""
    app = build_app(config)
    inflight = track_inflight(app)
    reloader = Reloader(app, config_path) if config_path else None
    limits = connection_limits(config)
    runner = GatewayRunner(
        app,
        limits=limits,
        metrics=app[METRICS],
        shutdown_timeout=ADMIN_SHUTDOWN_SECONDS,
        dispatch=lambda started, routed: proxy_dispatcher(started, routed, inflight),
    )
    admin_runner: web.AppRunner | None = None
    await runner.setup()
    try:
        await _listen(runner, host, port, reuse_port)
        for root_port in upstream_ports(config):  # upstreams served at the root of their own port
            if root_port == port:
                raise ListenError(f"port {port} is both the main listener and an upstream's match.port")
            await _listen(runner, host, root_port, reuse_port)
        if config.observability.admin_port is not None:
            admin_runner = GatewayRunner(
                build_admin_app(app), limits=limits, shutdown_timeout=ADMIN_SHUTDOWN_SECONDS
            )
            await admin_runner.setup()
            admin_host = config.observability.admin_host or host
            await _listen(admin_runner, admin_host, config.observability.admin_port, reuse_port)
    except BaseException:
        await runner.cleanup()
        if admin_runner is not None:
            await admin_runner.cleanup()
        raise
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    _on_signals(loop, (signal.SIGTERM, signal.SIGINT), stop.set)
    if reloader is not None:
        _on_signals(loop, (signal.SIGHUP,), lambda: reloader.reload_soon("SIGHUP"))
    watcher = loop.create_task(reloader.watch()) if reloader is not None and watch else None
    address = ", ".join(f"{a[0]}:{a[1]}" for a in runner.addresses)
    loop_kind = "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
    log.info("listening on %s (pid %d, %s event loop%s)", address, os.getpid(), loop_kind, _watching(watch))
    if freeze_gc:
        freeze_startup_objects()
    if started is not None:
        started.set()
    await stop.wait()

    stopping_at = loop.time()
    log.info("stopping: draining %d requests in flight for up to %.1f s", inflight.total, grace)
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.remove_signal_handler(signal.SIGHUP)
    for site in list(runner.sites):
        await site.stop()  # new connections are refused from here on
    if runner.server is not None:
        runner.server.pre_shutdown()  # idle keep-alive connections close; busy ones after their answer
    if watcher is not None:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    await inflight.drain(grace - close_reserve(grace) - (loop.time() - stopping_at))
    await runner.cleanup()  # nothing left to wait for: closes the connections, then the pools
    if admin_runner is not None:
        await admin_runner.cleanup()
    if inflight.cut:
        log.warning(
            "%d requests were still running after the %.1f s grace period and were cut", inflight.cut, grace
        )
    log.info("stopped after %.2f s", loop.time() - stopping_at)


def close_reserve(grace: float) -> float:
    return min(CLOSE_RESERVE, grace / 5)


def connection_limits(config: GatewayConfig, open_files: int | None = None) -> ConnectionLimits:
    """The listen settings; ``max_connections`` lowered to what the process's file descriptor limit
    (``open_files``, default: the soft RLIMIT_NOFILE) leaves after ``FD_RESERVE`` for upstream pools,
    Redis and files, so client connections cannot starve those."""
    listen = config.listen
    limit = open_files if open_files is not None else _soft_fd_limit()
    budget = None if limit is None else max(1, limit - FD_RESERVE)
    cap = listen.max_connections
    if cap is None:
        cap = DEFAULT_MAX_CONNECTIONS if budget is None else min(DEFAULT_MAX_CONNECTIONS, budget)
    elif budget is not None and cap > budget:
        log.warning(
            "listen.max_connections %d is more than the file descriptor limit %d allows; using %d",
            cap,
            limit,
            budget,
        )
        cap = budget
    return ConnectionLimits(
        keepalive_timeout=listen.keepalive_timeout_seconds,
        header_timeout=listen.header_timeout_seconds,
        max_connections=cap,
    )


def _soft_fd_limit() -> int | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def upstream_ports(config: GatewayConfig) -> list[int]:
    return sorted({up.port for up in config.upstreams if up.port is not None})


def freeze_startup_objects() -> None:
    """Collect once, then freeze what is left (modules, config, policies, route tables: about 60 000
    long-lived objects). Full collections stop walking them: pauses of 30 ms become under 1 ms. Before
    a fork this also keeps the collector from writing to (and so copying) the pages workers share."""
    gc.collect()
    gc.freeze()


async def _listen(runner: web.AppRunner, host: str, port: int, reuse_port: bool) -> None:
    try:
        await web.TCPSite(runner, host, port, reuse_port=reuse_port or None, backlog=1024).start()
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ListenError(f"cannot listen on {host}:{port}: {reason}") from None


def _on_signals(
    loop: asyncio.AbstractEventLoop, signals: tuple[int, ...], callback: Callable[[], None]
) -> None:
    for signum in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread, or Windows
            loop.add_signal_handler(signum, callback)


def _watching(watch: bool) -> str:
    return ", reloading when the config files change" if watch else ""
