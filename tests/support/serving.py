"""The gateway served in-process by ``gateway.server.run_server`` (every listener, root ports included).

async with served(config):        # returns once every socket listens; drains on exit
    ...
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from gateway.config.model import GatewayConfig
from gateway.server import run_server


@contextlib.asynccontextmanager
async def served(config: GatewayConfig) -> AsyncIterator[None]:
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        run_server(
            config, None, host="127.0.0.1", port=config.listen.port, grace=1.0, stop=stop, started=started
        )
    )
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiter}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if not started.is_set():
        waiter.cancel()
        if task.done():
            task.result()
        raise RuntimeError("the gateway did not start listening in 10 s")
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
