"""python -m bench.stage_costs [--number N]: what the decision endpoint must run per request, in-process.

A warm gateway runtime built from bench/gateway.yaml with bench/decision_bench.py's decision section (the
token cached, the admission memo holding the plan), then each per-request piece the decision runs even
so, timed on its own (timeit, min of 7 repeats of N calls, microseconds per call): reading the forwarded
request, the exchange, the token check, the memo, the rate limit, signing, the answer's headers, the
access line, the metrics; and the whole ``decision()`` on an aiohttp mocked request. Nothing here awaits
a real suspension (the memory limiter and the cached token answer at once), so the coroutines are run
by one ``send``. The sum of the pieces plus the minimal aiohttp service's CPU per decision
(bench/minimal_decision.py, measured by ``bench.decision_bench`` or ``bench.decision_quick --floor``) is
the lower bound of this design on aiohttp: no cut inside a piece can go below it without removing a
stage. The access line is written at once to /dev/null here (the server writes one loop turn's lines
together), and the whole ``decision()`` builds its aiohttp Response, which the minimal service builds
too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import timeit
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from bench.decision_bench import SCENARIO, decision_config
from bench.gateway import make_credentials
from gateway.admission import Origin, _admit_again, authenticate, rate_limit
from gateway.app import build_runtime, policy_entities
from gateway.config.loader import load_config
from gateway.decision import answer
from gateway.decision.endpoint import decision
from gateway.decision.forwarded import decision_view, read_forwarded, refuse_reserved_headers
from gateway.dialects.credentials import outbound_headers
from gateway.exchange import access_line, begin
from gateway.observability.metrics import GatewayMetrics
from gateway.proxy.outbound import dropped_params
from gateway.runtime import Runtime
from gateway.wire.slots import extract_token

ENDPOINT = "/_crm_gateway/authz"
REPEATS = 7


def run_now(coro: Coroutine[Any, Any, Any]) -> Any:
    """The result of a coroutine that never suspends (RuntimeError if it does)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("the coroutine suspended: not a warm, in-memory stage")


def asked_request(token: str) -> Any:
    client = SCENARIO.load(token, via_gateway=True)
    headers = {**client.headers, "X-Original-Method": client.method, "X-Original-URI": client.path}
    headers |= {"Host": "127.0.0.1", "X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http"}
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        ("127.0.0.1", 40000) if name == "peername" else default
    )
    return make_mocked_request("GET", ENDPOINT, headers=headers, transport=transport)


async def runtime_for(workdir: Path) -> tuple[Runtime, str]:
    credentials = make_credentials("http://127.0.0.1:9")
    config = load_config(decision_config(workdir), credentials.environ)
    metrics = GatewayMetrics(
        principal_label=config.observability.principal_label,
        upstreams=[up.name for up in config.upstreams],
        entities=policy_entities(config),
    )
    return await build_runtime(config, metrics), credentials.token


def stages(rt: Runtime, token: str) -> dict[str, Callable[[], object]]:
    """name -> one call of that per-request piece, on the warm runtime."""
    request = asked_request(token)
    status = run_now(decision(rt, request)).status
    if status != 200:
        raise RuntimeError(f"the decision answered {status}")
    fwd = read_forwarded(request.headers, "127.0.0.1")
    route, rel_path = rt.router.match(fwd.host, fwd.routing_path) or (None, "")
    assert route is not None
    up = rt.upstreams[route.name]
    view = decision_view(up, fwd, rel_path, request.headers)
    ex = begin(request, rt.monotonic())
    origin = Origin(client_ip=fwd.client_ip, scheme=fwd.scheme, host=fwd.host, front_proxy=True)
    slots = rt.config.auth.slots
    bearer = extract_token(view.headers, view.query, view.form, slots)
    principal = run_now(authenticate(rt, view, ex))
    memo, drop = rt.admissions, dropped_params(up.dialect.credential_params)
    key = memo.key(up.config.name, drop, view, principal, True)
    plan = memo.get(key, principal)
    assert plan is not None, "the admission memo holds no plan for the scenario"
    admitted = run_now(_admit_again(rt, up, plan, ex, CIMultiDict(), origin))
    client_headers = outbound_headers(view.headers)
    extra = CIMultiDict[str]({"X-Request-ID": ex.request_id})
    now = rt.clock()

    def read() -> object:
        f = read_forwarded(request.headers, "127.0.0.1")
        matched = rt.router.match(f.host, f.routing_path)
        assert matched is not None
        refuse_reserved_headers(request.headers)
        return decision_view(up, f, matched[1], request.headers)

    def memo_plan() -> object:
        found = memo.get(memo.key(up.config.name, drop, view, principal, True), principal)
        assert found is not None
        return found.outbound(ex.request_id, origin.client_ip, origin.scheme, origin.host)

    def memo_plan_and_sign() -> object:
        out = memo_plan()
        up.signer.sign(out, admitted.identity, now)  # type: ignore[arg-type]
        return out

    def headers() -> object:
        settings = answer.upstream_settings(admitted.out, client_headers)
        return answer.allowed(up.config.name, admitted.out, settings, extra)

    def metrics() -> None:
        first = ex.operations[0]
        rt.metrics.observe_request(
            ex.upstream,
            first.entity,
            first.action,
            ex.decision,
            200,
            0.0012,
            ex.principal,
            bytes_in=0,
            bytes_out=0,
        )

    def log() -> None:
        rt.access_log.log_rendered(lambda: access_line(ex, 200, 0.0012))

    return {
        "read the forwarded request (+ route, reserved headers, view)": read,
        "exchange (request id)": lambda: begin(request, rt.monotonic()),
        "token extraction": lambda: extract_token(view.headers, view.query, view.form, slots),
        "token check (SHA-256 cache, expiry, revocation)": lambda: run_now(
            rt.authenticator.authenticate(bearer)
        ),
        "memo key + plan + outbound copy": memo_plan,
        "memo + signing (Espo HMAC, memoized)": memo_plan_and_sign,
        "rate limit hit (+ RateLimit headers)": lambda: run_now(rate_limit(rt, plan.charged, ex)),
        "decision answer (settings + headers + Response)": headers,
        "metrics (observe_request)": metrics,
        "access line render + write (/dev/null)": log,
        "whole decision() on a mocked request": lambda: run_now(decision(rt, request)),
    }


def measure(pieces: dict[str, Callable[[], object]], number: int) -> dict[str, float]:
    return {
        name: min(timeit.repeat(call, number=number, repeat=REPEATS)) * 1e6 / number
        for name, call in pieces.items()
    }


SIGNING = "memo + signing (Espo HMAC, memoized)"
MEMO = "memo key + plan + outbound copy"
WHOLE = "whole decision() on a mocked request"


def report(costs: dict[str, float]) -> dict[str, Any]:
    """The pieces, signing alone (memo + signing less memo), and their sum against the whole."""
    shown = {name: round(us, 2) for name, us in costs.items() if name != SIGNING}
    shown["signing (Espo HMAC, memoized)"] = round(costs[SIGNING] - costs[MEMO], 2)
    whole = shown.pop(WHOLE)
    return {"stages_us": shown, "sum_us": round(sum(shown.values()), 1), "whole_decision_us": whole}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.stage_costs", description=__doc__.splitlines()[0])
    p.add_argument("--number", type=int, default=2000, help="calls per timeit repeat (default 2000)")
    p.add_argument("--json", action="store_true", help="print the JSON only")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="crmgw-stages-") as tmp, open(os.devnull, "w") as null:
        import asyncio

        loop = asyncio.new_event_loop()
        rt, token = loop.run_until_complete(runtime_for(Path(tmp)))
        with contextlib.redirect_stdout(null):
            out = report(measure(stages(rt, token), args.number))
        loop.run_until_complete(rt.close())
        loop.close()
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    for name, us in out["stages_us"].items():
        print(f"{us:8.2f} us  {name}")
    print(f"{out['sum_us']:8.1f} us  sum of the pieces")
    print(f"{out['whole_decision_us']:8.1f} us  whole decision() (one call, in-process)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
