"""Scenarios run on a fresh loop of each kind the gateway may serve on: asyncio's and uvloop (when installed).

from tests.support.loops import Run, run  # the fixture, by import
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

Run = Callable[[Callable[[], Awaitable[Any]]], Any]
LOOPS = ["asyncio", "uvloop"] if importlib.util.find_spec("uvloop") else ["asyncio"]


@pytest.fixture(params=LOOPS)
def run(request: pytest.FixtureRequest) -> Run:
    """Runs a scenario (an async function without arguments) to its end on a new loop of the param's kind."""

    def run_on_loop(scenario: Callable[[], Awaitable[Any]]) -> Any:
        factory = asyncio.new_event_loop
        if request.param == "uvloop":
            import uvloop

            factory = uvloop.new_event_loop
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(scenario())  # type: ignore[arg-type]

    return run_on_loop
