"""One round trip per loop turn: the script calls that reach the limiter in one turn of the event loop go to
Redis as one pipeline (one EVALSHA per request, each atomic on the server, in arrival order)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from redis.exceptions import NoScriptError

from gateway.ratelimit.base import LimiterUnavailable

Bounded = Callable[[Awaitable[Any]], Awaitable[Any]]
"""The limiter's own bound: its timeout, and its errors turned into LimiterUnavailable."""


class _Queued(NamedTuple):
    keys: list[str]
    args: list[str | int]
    reply: asyncio.Future[Any]


class Pipelined:
    """Queues each call's keys and arguments and sends every call queued in one loop turn in one pipeline.

    A caller waits for its own reply (its wait bounded by the caller); a pipeline that fails or times out
    fails every call in it with the error one call would have had; a caller that gave up meanwhile is left
    out of the next pipeline and its reply dropped."""

    def __init__(
        self,
        client: Any,
        sha: str,
        script: str,
        bounded: Bounded,
        unavailable: Callable[[BaseException], LimiterUnavailable],
    ) -> None:
        self._client = client
        self._sha = sha
        self._script = script
        self._bounded = bounded
        self._unavailable = unavailable
        self._queue: list[_Queued] = []
        self._sending: set[asyncio.Task[None]] = set()

    def call(self, keys: list[str], args: list[str | int]) -> asyncio.Future[Any]:
        """This call's reply, from the pipeline sent at the next turn of the loop."""
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[Any] = loop.create_future()
        if not self._queue:
            loop.call_soon(self._send_queued)
        self._queue.append(_Queued(keys, args, reply))
        return reply

    def cancel(self) -> None:
        for task in list(self._sending):
            task.cancel()

    def _send_queued(self) -> None:
        batch, self._queue = self._queue, []
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[_Queued]) -> None:
        waiting = [queued for queued in batch if not queued.reply.done()]  # not timed out or cancelled
        if not waiting:
            return
        try:
            replies = await self._bounded(self._pipeline(waiting))
        except BaseException as exc:
            for queued in waiting:
                if queued.reply.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    queued.reply.cancel()
                else:  # one exception object per caller: each raise collects its own traceback
                    queued.reply.set_exception(_copy(exc))
            if not isinstance(exc, Exception):
                raise
            return
        for queued, reply in zip(waiting, replies, strict=True):
            if queued.reply.done():
                continue
            if isinstance(reply, BaseException):  # this call's own error reply, as one call raised it
                queued.reply.set_exception(self._unavailable(reply))
            else:
                queued.reply.set_result(reply)

    async def _pipeline(self, batch: list[_Queued]) -> list[Any]:
        """One round trip: EVALSHA per call; those the server lacks the script for go again with EVAL."""
        pipe = self._client.pipeline(transaction=False)
        for queued in batch:
            pipe.evalsha(self._sha, len(queued.keys), *queued.keys, *queued.args)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
        missing = [index for index, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            pipe = self._client.pipeline(transaction=False)
            for index in missing:
                queued = batch[index]
                pipe.eval(self._script, len(queued.keys), *queued.keys, *queued.args)
            for index, reply in zip(missing, await pipe.execute(raise_on_error=False), strict=True):
                replies[index] = reply
        return replies


def _copy(exc: BaseException) -> BaseException:
    if isinstance(exc, LimiterUnavailable):
        return LimiterUnavailable(str(exc))
    return exc
