"""Hot reload: a new config (identities, policies, secrets re-read from files) swapped in between requests.

An invalid new config is refused and the running one stays; a log line and a metric say why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

from aiohttp import web

from gateway.app import build_runtime
from gateway.config.loader import load_config
from gateway.errors import ConfigError
from gateway.keys import METRICS, STATE
from gateway.observability.logging import register_secret
from gateway.runtime import Runtime

log = logging.getLogger("gateway.reload")


class Reloader:
    def __init__(self, app: web.Application, path: str, *, drain_seconds: float = 30.0) -> None:
        self.app = app
        self.path = path
        self.drain_seconds = drain_seconds
        self._lock = asyncio.Lock()
        self._retired: set[asyncio.Task[None]] = set()

    async def reload(self, trigger: str = "signal") -> bool:
        async with self._lock:
            state, metrics = self.app[STATE], self.app[METRICS]
            old = state.runtime
            try:
                config = load_config(self.path)
            except ConfigError as exc:
                log.error("reload (%s) refused, keeping the running config: %s", trigger, exc)
                metrics.config_reload("error")
                return False
            for secret in config.secrets:
                register_secret(secret)
            shared_limiter = (
                old.limiter if old is not None and old.config.ratelimit == config.ratelimit else None
            )
            try:
                runtime = await build_runtime(
                    config, metrics, old.clock if old else None, limiter=shared_limiter
                )
            except Exception as exc:  # a component refusing to start must not take the gateway down
                log.error(
                    "reload (%s) failed to start the new config, keeping the running one: %s",
                    trigger,
                    type(exc).__name__,
                )
                metrics.config_reload("error")
                return False
            state.runtime = runtime
            metrics.config_reload("ok")
            log.info("reloaded %s (%s)", self.path, trigger)
            if old is not None:
                task = asyncio.get_running_loop().create_task(
                    self._retire(old, keep_limiter=shared_limiter is not None)
                )
                self._retired.add(task)
                task.add_done_callback(self._retired.discard)
            return True

    async def _retire(self, runtime: Runtime, *, keep_limiter: bool) -> None:
        await asyncio.sleep(self.drain_seconds)
        await runtime.close(close_limiter=not keep_limiter)

    def watched_files(self) -> list[Path]:
        files = [Path(self.path)]
        runtime = self.app[STATE].runtime
        if runtime is not None:
            files.extend(runtime.config.policies.files)
        return files

    def _stamp(self) -> tuple[tuple[str, float], ...]:
        stamps = []
        for file in self.watched_files():
            with contextlib.suppress(OSError):
                stamps.append((str(file), os.stat(file).st_mtime))
        return tuple(stamps)

    async def watch(self, interval: float = 1.0) -> None:
        last = self._stamp()
        while True:
            await asyncio.sleep(interval)
            now = self._stamp()
            if now != last:
                last = now
                await self.reload("file-change")

    async def close(self) -> None:
        for task in list(self._retired):
            task.cancel()
