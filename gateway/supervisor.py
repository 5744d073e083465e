"""``serve --workers N``: N forked worker processes, each with its own SO_REUSEPORT listener on one port.

The kernel spreads new connections over the workers. The supervisor (the parent) serves nothing: it
forwards SIGTERM/SIGINT (drain and stop) and SIGHUP (reload) to every worker, replaces a worker that
dies on its own, and gives up (exit 1) when workers keep dying or one cannot start. After a stop it
waits up to the grace period (the workers fit their drain in it), then SIGKILLs what is left.
Metrics of all workers are merged through prometheus-client's multiprocess files (see
``observability.multiprocess``).

With Kubernetes keep the default of one worker and scale with replicas: one process per container
is what probes, memory limits and the kubelet's signals expect.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import NoReturn

from gateway.config.loader import load_config
from gateway.config.model import GatewayConfig
from gateway.errors import ConfigError
from gateway.observability.multiprocess import mark_worker_dead, values_shared
from gateway.observability.redact import register_secret
from gateway.serving import (
    STARTUP_FAILED,
    ListenError,
    freeze_startup_objects,
    run_server,
    run_with_best_loop,
)

log = logging.getLogger("gateway.supervisor")

KILL_MARGIN_SECONDS = 0.0
"""After a stop, how long past the grace period the supervisor waits before SIGKILL: none, a worker
finishes its drain and clean-up within the grace period (see ``serving``)."""
CRASH_WINDOW_SECONDS = 30.0


def supervise(
    config: GatewayConfig,
    path: str,
    host: str,
    port: int,
    *,
    workers: int,
    grace: float,
    watch: bool,
) -> int:
    if not hasattr(socket, "SO_REUSEPORT"):
        log.error("--workers needs SO_REUSEPORT, which this platform lacks")
        return 2
    if not values_shared():
        log.error("--workers needs $PROMETHEUS_MULTIPROC_DIR set before prometheus_client is imported")
        # (crm-gateway serve sets it; a program calling serve() must set it before importing the gateway)
        return 2
    reserved = _reserve_port(host) if port == 0 else None
    if reserved is not None:
        port = reserved.getsockname()[1]

    def run_worker(fresh: bool) -> None:
        worker_config = _reread(path, config) if fresh else config
        run_with_best_loop(
            run_server(
                worker_config,
                path,
                host=host,
                port=port,
                grace=grace,
                reuse_port=True,
                watch=watch,
                freeze_gc=True,
            )
        )

    log.info("supervisor pid %d: %d workers on %s:%d", os.getpid(), workers, host, port)
    freeze_startup_objects()  # before forking: the workers share these pages untouched
    try:
        return Supervisor(workers, grace, run_worker, keep_open=reserved).run()
    finally:
        if reserved is not None:
            reserved.close()


def _reserve_port(host: str) -> socket.socket:
    """Bind (without listening) a SO_REUSEPORT socket on a free port, so every worker can join it."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, 0))
    return sock


def _reread(path: str, fallback: GatewayConfig) -> GatewayConfig:
    """A replacement worker starts from the file as it is now (the others may have reloaded it)."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        log.warning("new worker: the config file is invalid (%s); starting with the one loaded at start", exc)
        return fallback
    for secret in config.secrets:
        register_secret(secret)
    return config


class Supervisor:
    def __init__(
        self,
        workers: int,
        grace: float,
        run_worker: Callable[[bool], None],
        *,
        keep_open: socket.socket | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.workers = workers
        self.monotonic = monotonic
        self.grace = grace
        self.run_worker = run_worker
        self.keep_open = keep_open
        self.children: set[int] = set()
        self.signals: list[int] = []
        self.crashes: list[float] = []
        self.deadline: float | None = None
        self.status = 0

    def run(self) -> int:
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        previous_fd = signal.set_wakeup_fd(wake_w)
        handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD)
        previous = {signum: signal.signal(signum, self._on_signal) for signum in handled}
        try:
            for _ in range(self.workers):
                self._spawn(fresh=False, wake_fds=(wake_r, wake_w))
            while self.children:
                self._handle_signals()
                self._reap()
                if self.deadline is None and len(self.children) < self.workers:
                    self._spawn(fresh=True, wake_fds=(wake_r, wake_w))
                if self.deadline is not None and self.monotonic() > self.deadline:
                    self._kill_remaining()
                select.select([wake_r], [], [], 0.5 if self.deadline is not None else 5.0)
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 512)
        finally:
            signal.set_wakeup_fd(previous_fd)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            os.close(wake_r)
            os.close(wake_w)
        log.info("supervisor: all workers stopped")
        return self.status

    def _on_signal(self, signum: int, _frame: object) -> None:
        if signum != signal.SIGCHLD:
            self.signals.append(signum)

    def _handle_signals(self) -> None:
        while self.signals:
            signum = self.signals.pop(0)
            if signum in (signal.SIGTERM, signal.SIGINT):
                self._stop(f"{signal.Signals(signum).name}: stopping the workers")
            self._send(signal.SIGTERM if signum == signal.SIGINT else signum)

    def _stop(self, why: str, status: int = 0) -> None:
        if self.deadline is None:
            log.info("supervisor: %s", why)
            self.deadline = self.monotonic() + self.grace + KILL_MARGIN_SECONDS
        self.status = max(self.status, status)

    def _send(self, signum: int) -> None:
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def _reap(self) -> None:
        while self.children:
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            code = os.waitstatus_to_exitcode(wait_status)
            self.children.discard(pid)
            mark_worker_dead(pid)
            self._worker_exited(pid, code)

    def _worker_exited(self, pid: int, code: int) -> None:
        if self.deadline is not None:
            if code not in (0, -signal.SIGTERM):  # SIGTERM before its loop took the signal over
                log.warning("supervisor: worker %d exited with status %d while stopping", pid, code)
                self.status = 1
            return
        if code == STARTUP_FAILED:
            self._stop(f"worker {pid} could not start; stopping the others", status=1)
            self._send(signal.SIGTERM)
            return
        now = self.monotonic()
        self.crashes = [t for t in self.crashes if now - t < CRASH_WINDOW_SECONDS] + [now]
        if len(self.crashes) > max(3, self.workers):
            self._stop(f"{len(self.crashes)} workers died within {CRASH_WINDOW_SECONDS:.0f} s; giving up", 1)
            self._send(signal.SIGTERM)
            return
        log.warning("supervisor: worker %d exited with status %d; starting another", pid, code)

    def _kill_remaining(self) -> None:
        for pid in self.children:
            log.error(
                "supervisor: worker %d still running %.0f s after the stop; killing it", pid, self.grace
            )
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.status = 1
        self.deadline = self.monotonic() + 60.0  # the kernel reaps them; do not loop on SIGKILL

    def _spawn(self, *, fresh: bool, wake_fds: tuple[int, int]) -> None:
        pid = os.fork()
        if pid == 0:
            self._child(fresh, wake_fds)
        self.children.add(pid)

    def _child(self, fresh: bool, wake_fds: tuple[int, int]) -> NoReturn:
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            for fd in wake_fds:
                os.close(fd)
            if self.keep_open is not None:
                self.keep_open.close()
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
                signal.signal(signum, signal.SIG_DFL)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until the worker's loop handles it
            self.run_worker(fresh)
            code = 0
        except BaseException as exc:
            code = _exit_code(exc)
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)


def _exit_code(exc: BaseException) -> int:
    if isinstance(exc, ListenError):
        log.error("worker %d: %s", os.getpid(), exc)
        return STARTUP_FAILED
    log.error("worker %d failed", os.getpid(), exc_info=exc)
    return 1
