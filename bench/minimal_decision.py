"""python -m bench.minimal_decision --port P --answers FILE [--kind server|app|raw]: the framework's
decision floor, not the gateway.

What bench/passthrough.py is for proxy mode: an aiohttp + uvloop decision service with nothing but the
answer. One handler reads ``Authorization``, ``X-Original-Method`` and ``X-Original-URI`` from the headers
nginx's ``auth_request`` forwards, looks the three up in a dict of precomputed answers (the cached-token
case: no token check, no policy, no limiter, no log, no metrics) and answers 200 with that answer's
headers plus a fresh request id, or 401 when the triple is unknown. The answers (ANSWERS, a JSON file)
are the gateway's own decision answer for the scenario, captured by bench/decision_bench.py: the same
X-Crm-* contract headers, the Espo HMAC header precomputed (as the gateway's signer memo holds it), the
RateLimit reply headers as captured (not recomputed).

``--kind server``: aiohttp's low-level ``web.Server`` with the one handler (no router, no middleware).
``--kind app``: a ``web.Application`` with the one route, as a normal aiohttp service is written.
``--kind raw``: no HTTP framework at all, a plain ``asyncio.Protocol`` with httptools (bench/raw_decision.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from bench.raw_decision import serve_raw
from gateway.observability.request_id import generate

ENDPOINT = "/_crm_gateway/authz"
ID_HEADERS = ("X-Crm-Set-X-Request-ID", "X-Crm-Reply-X-Request-ID")
"""The answer headers that carry the request's id: a fresh one per request, as the gateway's."""

Key = tuple[str, str, str]


def answers_from(data: Mapping[str, Any]) -> dict[Key, tuple[tuple[str, str], ...]]:
    """``{"answers": [{"authorization", "method", "uri", "headers": [[name, value], ...]}]}`` by key."""
    return {
        (entry["authorization"], entry["method"], entry["uri"]): tuple(
            (name, value) for name, value in entry["headers"] if name not in ID_HEADERS
        )
        for entry in data["answers"]
    }


def make_handler(answers: Mapping[Key, tuple[tuple[str, str], ...]]) -> Any:
    async def handle(request: web.BaseRequest) -> web.Response:
        headers = request.headers
        key = (
            headers.get("Authorization", ""),
            headers.get("X-Original-Method", ""),
            headers.get("X-Original-URI", ""),
        )
        found = answers.get(key)
        if found is None:
            return web.Response(status=401, headers={"Cache-Control": "no-store"})
        request_id = generate()
        out = CIMultiDict(found)
        out[ID_HEADERS[0]] = request_id
        out[ID_HEADERS[1]] = request_id
        return web.Response(status=200, headers=out)

    return handle


async def serve(port: int, answers_file: Path, kind: str) -> None:
    answers = answers_from(json.loads(answers_file.read_text()))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    if kind == "raw":
        await serve_raw(port, answers, ID_HEADERS, stop)
        return
    handler = make_handler(answers)
    runner: web.BaseRunner
    if kind == "server":
        runner = web.ServerRunner(web.Server(handler), access_log=None, handle_signals=False)
    else:
        app = web.Application()
        app.router.add_route("GET", ENDPOINT, handler)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    await stop.wait()
    await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.minimal_decision", description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--answers", type=Path, required=True)
    p.add_argument("--kind", choices=("server", "app", "raw"), default="server")
    args = p.parse_args(argv)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.port, args.answers, args.kind))
    else:
        uvloop.run(serve(args.port, args.answers, args.kind))
    return 0


if __name__ == "__main__":
    sys.exit(main())
