"""A real, throw-away redis-server for tests: free port, no persistence, loopback only.

    from tests.support.redis_server import RedisServer, redis_server  # the fixture, by import

``stop()`` kills it (SIGKILL, like a crash), ``restart()`` brings it back empty on the same port,
``pause()``/``resume()`` freeze it (SIGSTOP/SIGCONT) so clients see a hung server, not a refused one.
The fixture skips the test when no redis-server binary is installed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence

import pytest

from tests.support.ports import free_port

START_TIMEOUT_S = 5.0


def redis_server_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    return "/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None


requires_redis_server = pytest.mark.skipif(redis_server_binary() is None, reason="redis-server not installed")


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    for _ in range(200):
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


class RedisServer:
    def __init__(
        self,
        *,
        port: int | None = None,
        extra_args: Sequence[str] = (),
        config_file: str | None = None,
        binary: str | None = None,
    ) -> None:
        self.binary = binary or redis_server_binary() or "redis-server"
        self.port = port or (cluster_port() if "--cluster-enabled" in extra_args else free_port())
        self.extra_args = list(extra_args)
        self.config_file = config_file  # first argument when given (a Sentinel needs a writable one)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        command = [self.binary, *([self.config_file] if self.config_file else [])]
        command += ["--port", str(self.port), "--save", "", "--appendonly", "no"]
        command += ["--bind", "127.0.0.1", *self.extra_args]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.ping():
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._process.returncode} on port {self.port}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer PING on port {self.port}")
            time.sleep(0.01)

    def stop(self) -> None:
        """Kill it abruptly (SIGKILL): clients see a crash, nothing is flushed."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGCONT)  # a paused server must not linger
            self._process.kill()
        self._process.wait(timeout=START_TIMEOUT_S)
        self._process = None

    def crash(self) -> None:
        """SIGKILL as it is, paused or not: a paused server dies with its clients' commands unanswered."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=START_TIMEOUT_S)
            self._process = None

    def restart(self) -> None:
        """A fresh, empty server on the same port."""
        self.stop()
        self.start()

    def pause(self) -> None:
        """Freeze the server: connections stay open but nothing is answered."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A running redis-server for one test, killed afterwards; skips the test without the binary."""
    if redis_server_binary() is None:
        pytest.skip("redis-server not installed")
    with RedisServer() as server:
        yield server
