"""Decision mode: the front proxy carries the CRM's answer, which the gateway never sees. What keeps it
clean is what the gateway refuses at load (schemes whose credential travels in the URL or body, policies
that rely on the answer filter: tests/unit/config/test_decision_config.py); this checks the result
through real nginx and Caddy. With every sandbox answer mode that echoes the request (a redirect to the
URL as received, an HTML error page printing it), nothing any upstream answers, decided or left to proxy
mode behind the same front proxy, carries a configured secret.

The decided policies must allow reading ``api_key`` (decision mode cannot remove it), so ``authx-apikey``,
whose credential is that field, is refused in decision mode at load (its Contact.get of the integration's
own contact would return the very key the gateway sends)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.sandbox.answer_modes import configure
from tests.integration.test_decision_support import (
    DECIDED,
    DECISION,
    FRONTENDS,
    POLICIES,
    Frontend,
    running_frontend,
)
from tests.support.stack import CIVI_SCHEMES, ESPO_SCHEMES, SECRETS, Stack, start_stack

ECHOES: list[dict[str, object]] = [
    {"redirect": True},
    {"html_error": True, "chunked": True},
    {"html_error": True, "encoding": "gzip"},
]


def _path_for(upstream: str) -> str:
    if upstream.startswith("espo"):
        return f"/{upstream}/api/v1/Lead"
    if upstream == "civi-keys":
        return f"/{upstream}/sites/all/modules/civicrm/extern/rest.php?entity=Contact&action=get&json=1"
    return f"/{upstream}/civicrm/ajax/rest?entity=Contact&action=get&json=1"


@pytest.fixture
async def stack(aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path) -> Stack:
    return await start_stack(aiohttp_server, aiohttp_client, tmp_path, policies=POLICIES, extra=DECISION)


@pytest.fixture(params=FRONTENDS)
def front(request: pytest.FixtureRequest, stack: Stack) -> Iterator[Frontend]:
    with running_frontend(request.param, stack) as frontend:
        yield frontend


@pytest.mark.parametrize("modes", ECHOES, ids=lambda m: "+".join(m))
async def test_nothing_a_decided_or_proxied_upstream_echoes_carries_a_secret(
    front: Frontend, stack: Stack, modes: dict[str, object]
) -> None:
    seen: list[str] = []
    decided = 0
    for upstream in [*CIVI_SCHEMES, *ESPO_SCHEMES]:
        configure(stack.civi.app, **modes)
        configure(stack.espo.app, **modes)
        answer = await front.request("GET", _path_for(upstream), stack.bearer())
        assert answer.status in (200, 302, 500, 502), (upstream, answer.status, answer.body[:200])
        decided += upstream in DECIDED
        seen.append(f"{upstream} {answer.status}")
        seen += [f"{k}: {v}" for k, v in answer.headers.items()]
        body = answer.body
        if answer.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        seen.append(body.decode("utf-8", "replace"))
        if modes.get("redirect"):
            assert "Location" in answer.headers, upstream
    everything = "\n".join(seen)
    assert decided >= 8  # the decided upstreams were really asked through the front proxy
    assert len(stack.received()) == len(CIVI_SCHEMES) + len(ESPO_SCHEMES)  # no redirect was followed
    for secret in SECRETS:
        assert secret not in everything, secret[:6]
