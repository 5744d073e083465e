"""Requests being handled, counted per runtime, and the shutdown drain that waits for them.

A request is pinned to the runtime that was current when it started, the one ``pipeline.handle``
reads (no ``await`` lies between the two reads), so a reload can close a replaced runtime once its
last request has finished, and a shutdown can wait for all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.keys import STATE, State
from gateway.runtime import Runtime

PinnedHandler = Callable[[Runtime, web.Request], Awaitable[web.StreamResponse]]


class InFlight:
    def __init__(self, state: State) -> None:
        self._state = state
        self._counts: dict[int, int] = {}
        self._idle: dict[int, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._all_done = asyncio.Event()
        self._all_done.set()
        self.total = 0
        self.draining = False
        self.cut = 0
        """Requests cancelled while draining: still running when the grace period ended."""

    def count(self, runtime: Runtime) -> int:
        return self._counts.get(id(runtime), 0)

    async def wait_idle(self, runtime: Runtime, timeout: float) -> bool:
        """Wait until no request uses ``runtime``; False if some still do after ``timeout`` seconds."""
        key = id(runtime)
        if not self._counts.get(key):
            return True
        event = self._idle.setdefault(key, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def drain(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for every request to finish, then cancel those still running
        and wait for them to unwind. Returns how many were cut."""
        self.draining = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_done.wait(), max(0.0, timeout))
        left = [task for task in self._tasks if not task.done()]
        for task in left:
            task.cancel()
        if left:
            await asyncio.wait(left, timeout=1.0)
        return len(left)

    async def track(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The middleware's form: ``handler`` reads ``State.runtime`` itself, before its first await."""
        key = id(self._state.runtime)
        task = self._enter(key, request.task)
        try:
            return await handler(request)
        except asyncio.CancelledError:
            if self.draining:
                self.cut += 1
            raise
        finally:
            self._leave(key, task)

    async def pinned(self, request: web.Request, handler: PinnedHandler) -> web.StreamResponse:
        """``handler`` given the current runtime, counted as ``track`` counts (no middleware needed)."""
        runtime = self._state.runtime
        assert runtime is not None
        key = id(runtime)
        task = self._enter(key, request.task)
        try:
            return await handler(runtime, request)
        except asyncio.CancelledError:
            if self.draining:
                self.cut += 1
            raise
        finally:
            self._leave(key, task)

    def _enter(self, key: int, task: asyncio.Task[None] | None) -> asyncio.Task[None] | None:
        """``task``: the connection's task, running the request (cancelling it cancels the request)."""
        self._counts[key] = self._counts.get(key, 0) + 1
        self.total += 1
        self._all_done.clear()
        if task is not None:
            self._tasks.add(task)
        return task

    def _leave(self, key: int, task: asyncio.Task[None] | None) -> None:
        if task is not None:
            self._tasks.discard(task)
        self.total -= 1
        if not self.total:
            self._all_done.set()
        left = self._counts[key] - 1
        if left:
            self._counts[key] = left
        else:
            del self._counts[key]
            event = self._idle.pop(key, None)
            if event is not None:
                event.set()


INFLIGHT: web.AppKey[InFlight] = web.AppKey("inflight", InFlight)


def track_inflight(app: web.Application) -> InFlight:
    """The app's InFlight counter, installed as its innermost middleware on first call (before start)."""
    if INFLIGHT in app:
        return app[INFLIGHT]
    if app.frozen:
        raise RuntimeError("track_inflight() must be called before the application starts")
    inflight = app[INFLIGHT] = InFlight(app[STATE])

    @web.middleware
    async def pin_runtime(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await inflight.track(request, handler)

    app.middlewares.append(pin_runtime)
    return inflight
