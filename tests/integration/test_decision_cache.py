"""The decision cache end to end: real nginx, configured by ``crm-gateway frontend nginx
--decision-cache-seconds``, in front of the sandbox CRMs. Decisions are counted by the gateway's own
``crmgw_requests_total``: a cache hit never reaches the gateway."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from gateway.frontends import nginx
from gateway.frontends.cache import DecisionCache, rate_limit_warning
from gateway.frontends.plan import make_plan
from tests.integration.test_decision_support import (
    API_KEY_READABLE,
    DECISION,
    Frontend,
    _wait_for_port,
    assert_no_secret_or_token,
    gateway_address,
    require,
)
from tests.support.ports import free_port
from tests.support.stack import ESPO_API_KEY, Stack, metric_samples, start_stack

TTL_S = 1
POLICY = (
    """
policy: decision-cache
subjects: {principals: [svc-test]}
entities:
  Contact: {get: allow, read: allow}
  Lead: {read: allow}
  Account: {read: allow}
limits:
  - {name: accounts, entity: Account, rate: 1/hour}
"""
    + API_KEY_READABLE
)
LEADS = "/espo-key/api/v1/Lead?maxSize=2"
CIVI_CONTACTS = "/civi-jwt/civicrm/ajax/api4/Contact/get?params=%7B%22limit%22%3A1%7D"


@pytest.fixture
async def stack(aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path) -> Stack:
    return await start_stack(
        aiohttp_server, aiohttp_client, tmp_path, policies={"cache": POLICY}, extra=DECISION
    )


@contextmanager
def cached_nginx(stack: Stack, seconds: int) -> Iterator[Frontend]:
    """nginx with the decision cache on, its cache under its own prefix (workers run unprivileged)."""
    workdir = Path(tempfile.mkdtemp(prefix="crmgw-nginx-cache-"))
    workdir.chmod(0o755)
    port = free_port()
    cache = DecisionCache(seconds, str(workdir / "decision_cache"))
    plan = make_plan(stack.config, listen=f"127.0.0.1:{port}", gateway=gateway_address(stack), cache=cache)
    (workdir / "nginx.conf").write_text(nginx.standalone(plan, workers="1"))
    binary = require("nginx")
    tested = subprocess.run(
        [binary, "-t", "-p", str(workdir), "-c", "nginx.conf", "-e", "stderr"],
        capture_output=True,
        timeout=10,
        check=False,
    )
    assert tested.returncode == 0, tested.stderr.decode()
    log = workdir / "output.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [binary, "-p", str(workdir), "-c", "nginx.conf", "-e", "stderr", "-g", "daemon off;"],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
    try:
        _wait_for_port(process, port, log)
        yield Frontend("nginx", port, process, workdir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def front(stack: Stack) -> Iterator[Frontend]:
    with cached_nginx(stack, TTL_S) as frontend:
        yield frontend


def decisions(stack: Stack) -> float:
    """Every request the gateway answered (decisions and denial replays alike)."""
    return sum(metric_samples(stack.metrics_text(), "crmgw_requests_total").values())


async def test_a_repeated_allowed_get_is_decided_once_and_still_carries_the_credential(
    front: Frontend, stack: Stack
) -> None:
    headers = stack.bearer()
    before, received = decisions(stack), len(stack.espo_received)
    first = await front.request("GET", LEADS, headers)
    second = await front.request("GET", LEADS, headers)
    assert (first.status, second.status) == (200, 200), second.body[:300]
    assert decisions(stack) == before + 1
    assert len(stack.espo_received) == received + 2
    for answer, seen in zip((first, second), stack.espo_received[-2:], strict=True):
        assert seen.headers["X-Api-Key"] == ESPO_API_KEY
        assert seen.path_qs == "/api/v1/Lead?maxSize=2"
        assert seen.headers["X-Request-ID"] == answer.headers["X-Request-ID"]
    # A hit gets a request id of its own, never the one of the decision that was kept.
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]

    # A gateway-minted AuthX JWT and an Espo HMAC are replayed from the cache and still accepted.
    for target in (CIVI_CONTACTS, "/espo-hmac/api/v1/Contact?maxSize=1"):
        sandbox = stack.civi_received if target.startswith("/civi") else stack.espo_received
        before = decisions(stack)
        answers = [await front.request("GET", target, headers) for _ in range(3)]
        assert [a.status for a in answers] == [200, 200, 200], answers[-1].body[:300]
        assert decisions(stack) == before + 1, target
        assert len({seen.headers.get("X-Civi-Auth", "") for seen in sandbox[-3:]}) == 1
    assert_no_secret_or_token(stack, headers["Authorization"][7:])


async def test_another_token_method_target_or_host_is_decided_again(front: Frontend, stack: Stack) -> None:
    token = stack.token()
    other = stack.token(jti="another-token")
    assert other != token
    assert (await front.request("GET", LEADS, {"Authorization": f"Bearer {token}"})).status == 200
    misses: list[tuple[str, str, dict[str, str]]] = [
        ("GET", LEADS, {"Authorization": f"Bearer {other}"}),
        ("GET", LEADS, {"X-Api-Key": token}),
        ("HEAD", LEADS, {"Authorization": f"Bearer {token}"}),
        ("GET", LEADS + "&select=name", {"Authorization": f"Bearer {token}"}),
        ("GET", f"{LEADS}&api_key={token}", {}),
        ("GET", f"{LEADS}&api_key={other}", {}),
        ("GET", "/api/v1/Lead?maxSize=2", {"Authorization": f"Bearer {token}", "Host": "espo.example.test"}),
    ]
    for method, target, headers in misses:
        before = decisions(stack)
        answer = await front.request(method, target, headers)
        assert answer.status == 200, (method, target, answer.body[:300])
        assert decisions(stack) == before + 1, (method, target, sorted(headers))
    assert "api_key" not in stack.espo_received[-2].path_qs


async def test_refusals_are_never_cached(front: Frontend, stack: Stack) -> None:
    headers = stack.bearer()
    cases = [
        ("/espo-key/api/v1/User", headers, 403),
        (LEADS, {}, 401),
        (LEADS, stack.bearer(exp=1000), 401),
    ]
    for target, sent, status in cases:
        costs = []
        for _ in range(2):
            before = decisions(stack)
            answer = await front.request("GET", target, sent)
            assert answer.status == status, (target, answer.status)
            costs.append(decisions(stack) - before)
        assert costs[0] >= 1 and costs[1] == costs[0], (target, costs)


async def test_after_the_ttl_the_gateway_is_asked_again(front: Frontend, stack: Stack) -> None:
    headers = stack.bearer()
    before = decisions(stack)
    assert (await front.request("GET", LEADS, headers)).status == 200
    assert (await front.request("GET", LEADS, headers)).status == 200
    assert decisions(stack) == before + 1
    await asyncio.sleep(TTL_S + 1.2)  # nginx serves an entry until the end of the second it expires in
    assert (await front.request("GET", LEADS, headers)).status == 200
    assert decisions(stack) == before + 2


async def test_the_rate_limiter_only_sees_cache_misses(front: Frontend, stack: Stack) -> None:
    # Documented trade-off: the gateway's 1/hour limit is charged once, the cached allow is replayed.
    assert rate_limit_warning(stack.config, TTL_S) is not None
    headers = stack.bearer()
    first = await front.request("GET", "/espo-key/api/v1/Account", headers)
    again = await front.request("GET", "/espo-key/api/v1/Account", headers)
    assert (first.status, again.status) == (200, 200)
    assert "RateLimit-Policy" in first.headers and "RateLimit-Policy" not in again.headers
    direct = await stack.client.get("/espo-key/api/v1/Account", headers=headers)
    assert direct.status == 429


async def test_concurrent_identical_misses_ask_once(front: Frontend, stack: Stack) -> None:
    headers = stack.bearer()
    before = decisions(stack)
    answers = await asyncio.gather(*(front.request("GET", LEADS, headers) for _ in range(8)))
    assert {a.status for a in answers} == {200}
    assert decisions(stack) == before + 1  # proxy_cache_lock: the others wait for the first answer
