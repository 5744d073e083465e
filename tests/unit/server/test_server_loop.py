"""The event loop serve runs on: uvloop when it is installed, asyncio's own otherwise."""

from __future__ import annotations

import asyncio
import sys

import pytest

from gateway.serving import loop_factory, run_with_best_loop


async def loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_uvloop_runs_the_server_when_installed() -> None:
    uvloop = pytest.importorskip("uvloop")
    assert loop_factory() is uvloop.new_event_loop
    assert run_with_best_loop(loop_module()).startswith("uvloop")


def test_asyncio_runs_it_when_uvloop_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    assert loop_factory() is None
    assert run_with_best_loop(loop_module()).startswith("asyncio")


def test_the_global_event_loop_policy_is_left_alone() -> None:
    before = asyncio.get_event_loop_policy()
    run_with_best_loop(loop_module())
    assert asyncio.get_event_loop_policy() is before
