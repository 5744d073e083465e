"""Hot reload: a new config (identities, policies, secrets re-read from files) swapped in between requests.

``pipeline.handle`` reads ``State.runtime`` once, first thing, so swapping that one attribute is atomic
for requests: each finishes on the runtime it started with. An invalid new config is refused and the
running one stays; a log line (``file:line: key: reason``) and ``crmgw_config_reloads_total`` say why.
The replaced runtime is closed once the last request pinned to it has finished (``inflight.InFlight``).
Whether anything changed is read from ``config.sources``, what the loader recorded as it read the files
(``configfile/sources.py``): there is no second parser of the config here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Literal

from aiohttp import web

from gateway.app import build_runtime, policy_entities
from gateway.config.loader import load_config
from gateway.config.model import GatewayConfig
from gateway.configfile.sources import Source, changed, replaced, state
from gateway.errors import ConfigError
from gateway.inflight import track_inflight
from gateway.keys import METRICS, STATE
from gateway.observability.labels import LabelBounds
from gateway.observability.metrics import GatewayMetrics
from gateway.observability.redact import register_secret
from gateway.runtime import Runtime

log = logging.getLogger("gateway.reload")

ReloadOutcome = Literal["ok", "error", "unchanged"]
RETIRE_MARGIN_SECONDS = 5.0
IN_PLACE_SETTLE = 3.0
"""Seconds a file written in place must stay unchanged before a --watch reload reads it."""
REPLACED_SETTLE = 0.2
"""The same for a file replaced at once (a rename, a ConfigMap update)."""


def _restart_only_changes(old: GatewayConfig, new: GatewayConfig) -> list[str]:
    o, n = old.observability, new.observability
    changed = {
        "listen": old.listen != new.listen,
        "upstreams[].match.port": _ports(old) != _ports(new),
        "observability.admin": (o.admin_host, o.admin_port) != (n.admin_host, n.admin_port),
        "observability.metrics": o.metrics != n.metrics,
        "observability.principal_label": o.principal_label != n.principal_label,
    }
    return [key for key, differs in changed.items() if differs]


def _ports(config: GatewayConfig) -> set[int]:
    return {up.port for up in config.upstreams if up.port is not None}


def _widen_label_bounds(metrics: GatewayMetrics, config: GatewayConfig) -> None:
    """Let the new upstreams and policy entities through as metric labels (old ones stay known)."""
    old = metrics.bounds
    upstreams = old.upstreams | {up.name for up in config.upstreams}
    entities = old.entities | policy_entities(config)
    if upstreams == old.upstreams and entities == old.entities:
        return
    bounds = LabelBounds(upstreams=upstreams, entities=entities, actions=old.actions)
    bounds.rule, bounds.principal = old.rule, old.principal  # keep their cardinality caps
    metrics.bounds = bounds


class Reloader:
    """Reloads the config file of one application on demand (SIGHUP) or when its files change."""

    def __init__(
        self,
        app: web.Application,
        path: str,
        *,
        environ: Mapping[str, str] | None = None,
        retire_limit_seconds: float | None = None,
    ) -> None:
        """``retire_limit_seconds``: the longest a replaced runtime waits for its last requests before
        its connections are closed anyway (default: its longest upstream timeout). Whether a reload
        would read anything new comes from the running config's ``sources``; a config that has none
        (built from text) is always reloaded."""
        self.app = app
        self.path = path
        self.environ = environ
        self.retire_limit_seconds = retire_limit_seconds
        self.inflight = track_inflight(app)
        self._lock = asyncio.Lock()
        self._retiring: dict[int, Runtime] = {}
        self._reloads: set[asyncio.Task[object]] = set()
        self._retirements: set[asyncio.Task[object]] = set()
        self._shutdown = asyncio.Event()
        app.on_cleanup.insert(0, self._on_cleanup)  # before build_app's hook closes the current runtime

    def reload_soon(self, trigger: str = "signal") -> None:
        """Start a reload from a signal handler (reloads run one at a time, in order)."""
        self._keep(self._reloads, asyncio.get_running_loop().create_task(self.reload(trigger)))

    async def reload(self, trigger: str = "signal") -> ReloadOutcome:
        async with self._lock:
            metrics, old = self.app[METRICS], self.app[STATE].runtime
            if old is None:
                return self._refuse(trigger, "the gateway has not started")
            sources = old.config.sources
            if sources and not await asyncio.to_thread(changed, sources):
                metrics.config_reload("unchanged")
                log.info("reload (%s): %s and its files are unchanged", trigger, self.path)
                return "unchanged"
            try:
                config = await asyncio.to_thread(load_config, self.path, self.environ)
            except ConfigError as exc:
                return self._refuse(trigger, str(exc))
            except Exception as exc:  # never let a reload take the gateway down
                return self._refuse(trigger, f"{type(exc).__name__} while loading {self.path}")
            for secret in config.secrets:
                register_secret(secret)
            shared = old.limiter if old.config.ratelimit == config.ratelimit else None
            same_auth = (old.config.auth, old.config.revocation) == (config.auth, config.revocation)
            auth = old.authenticator if same_auth else None
            try:
                runtime = await build_runtime(
                    config, metrics, old.clock, limiter=shared, authenticator=auth, monotonic=old.monotonic
                )
            except Exception as exc:
                return self._refuse(trigger, f"the new config failed to start ({type(exc).__name__})")
            for key in _restart_only_changes(old.config, config):
                log.warning(
                    "reload (%s): %s changed; that takes a restart, the running value stays", trigger, key
                )
            _widen_label_bounds(metrics, config)
            logging.getLogger("gateway").setLevel(config.observability.log_level.upper())
            self.app[STATE].runtime = runtime
            metrics.config_reload("ok")
            log.info("reloaded %s (%s)", self.path, trigger)
            self._retiring[id(old)] = old
            self._keep(self._retirements, asyncio.get_running_loop().create_task(self._retire(old)))
            return "ok"

    def _refuse(self, trigger: str, why: str) -> ReloadOutcome:
        log.error("reload (%s) refused, the running config stays: %s", trigger, why)
        self.app[METRICS].config_reload("error")
        return "error"

    async def watch(
        self, interval: float = 1.0, settle: float = IN_PLACE_SETTLE, replaced_settle: float = REPLACED_SETTLE
    ) -> None:
        """Reload when a file the running config was loaded from changes (polled by content). The
        content must then stay the same for ``settle`` seconds (a file written in place may be written
        in parts), or ``replaced_settle`` when a file was replaced (a rename, a Kubernetes ConfigMap's
        symlink swap: complete at once). A change is acted on once: a broken edit is reported once,
        not every ``interval``."""
        seen = tuple(source.digest for source in self._sources())  # as loaded
        while True:
            await asyncio.sleep(interval)
            sources = self._sources()
            now = await asyncio.to_thread(state, sources)
            if now == seen:
                continue
            quick = await asyncio.to_thread(replaced, sources)
            while True:  # let a writer finish before reading
                await asyncio.sleep(replaced_settle if quick else settle)
                latest = await asyncio.to_thread(state, sources)
                if latest == now:
                    break
                now = latest
            if await self.reload("file-change") == "ok":
                seen = tuple(source.digest for source in self._sources())  # the new config's, as loaded
            else:
                seen = now  # acted on: a broken edit is reported once

    def _sources(self) -> tuple[Source, ...]:
        runtime = self.app[STATE].runtime
        return runtime.config.sources if runtime is not None else ()

    def _retire_limit(self, runtime: Runtime) -> float:
        if self.retire_limit_seconds is not None:
            return self.retire_limit_seconds
        longest = max((up.timeouts.total for up in runtime.config.upstreams), default=0.0)
        return longest + RETIRE_MARGIN_SECONDS

    async def _retire(self, runtime: Runtime) -> None:
        idle = asyncio.ensure_future(self.inflight.wait_idle(runtime, self._retire_limit(runtime)))
        shutdown = asyncio.ensure_future(self._shutdown.wait())
        await asyncio.wait((idle, shutdown), return_when=asyncio.FIRST_COMPLETED)
        for waiter in (idle, shutdown):
            waiter.cancel()
        if not self._shutdown.is_set() and self.inflight.count(runtime):
            log.warning(
                "closing the previous config's connections; %d requests still use them",
                self.inflight.count(runtime),
            )
        await self._close_retired(runtime)

    async def _close_retired(self, runtime: Runtime) -> None:
        self._retiring.pop(id(runtime), None)
        live = [self.app[STATE].runtime, *self._retiring.values()]
        others = [other for other in live if other is not None]
        shared = any(other.limiter is runtime.limiter for other in others)
        shared_auth = any(other.authenticator is runtime.authenticator for other in others)
        await runtime.close(close_limiter=not shared, close_authenticator=not shared_auth)

    @staticmethod
    def _keep(tasks: set[asyncio.Task[object]], task: asyncio.Task[object]) -> None:
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _on_cleanup(self, app: web.Application) -> None:
        """Shutdown: the server has drained, so the replaced runtimes can close now (a reload still
        under way finishes first, so that what it replaces is closed too)."""
        await asyncio.gather(*self._reloads, return_exceptions=True)
        self._shutdown.set()  # retirements stop waiting for their last requests, and close
        await asyncio.gather(*self._retirements, return_exceptions=True)
        for runtime in list(self._retiring.values()):
            await self._close_retired(runtime)
