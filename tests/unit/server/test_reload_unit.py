"""Reloader on an in-process gateway (aiohttp test server) in front of the sandbox EspoCRM: the swap is
atomic for requests, refusals keep the running runtime, the limiter survives an unchanged ratelimit."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import build_app
from gateway.config.loader import load_config
from gateway.inflight import INFLIGHT
from gateway.keys import METRICS, STATE
from gateway.reload import Reloader
from gateway.runtime import Runtime
from gateway.sandbox.espocrm import ESPO_CONFIG, ESPO_RECEIVED, build_espo_app
from tests.support.jwt_factory import SigningKey, claims, make_key, sign
from tests.support.stack import (
    ALLOW_ALL,
    ENV,
    ESPO_API_KEY,
    SECRETS,
    config_text,
    espo_sandbox_config,
)

pytestmark = pytest.mark.timeout(30)

LEADS = "/espo-key/api/v1/Lead"
DENY_LEADS = """
policy: test-deny-leads
subjects: {principals: [svc-test]}
entities:
  "*": {default: allow}
  Lead: {read: deny}
"""
LIMIT_2 = "ratelimit: {backend: memory, limits: [{rate: 1/hour, burst: 2}]}"
LIMIT_3 = "ratelimit: {backend: memory, limits: [{rate: 1/hour, burst: 3}]}"


def write_files(
    gw: Gateway | Site, *, ratelimit: str = "", extra: str = "", secret_file: str | None = None
) -> None:
    """gateway.yaml (with ``secret_file`` as espo-key's API key when given) and policies/main.yaml."""
    text = config_text("http://127.0.0.1:9", gw.espo_url, gw.key, ratelimit=ratelimit, extra=extra)
    if secret_file is not None:
        text = text.replace("${env:ESPO_API_KEY}", "${file:" + secret_file + "}", 1)
    (gw.root / "gateway.yaml").write_text(text)


@dataclass
class Site:
    root: Path
    espo_url: str
    key: SigningKey


@dataclass
class Gateway(Site):
    client: TestClient[web.Request, web.Application]
    app: web.Application
    espo: TestServer
    reloader: Reloader

    def write_policy(self, text: str) -> None:
        (self.root / "policies" / "main.yaml").write_text(text)

    async def get(self) -> int:
        headers = {"Authorization": f"Bearer {sign(self.key, claims(sub='svc-test'))}"}
        async with self.client.get(LEADS, headers=headers) as resp:
            await resp.read()
            return resp.status

    @property
    def runtime(self) -> Runtime:
        runtime = self.app[STATE].runtime
        assert runtime is not None
        return runtime

    def reloads(self, outcome: str) -> float:
        text = self.app[METRICS].render()[0].decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "crmgw_config_reloads_total" and sample.labels == {"outcome": outcome}:
                    return sample.value
        return 0.0


async def start(aiohttp_server: Any, aiohttp_client: Any, root: Path, *, ratelimit: str = "") -> Gateway:
    espo = await aiohttp_server(build_espo_app(espo_sandbox_config()), access_log=None)
    site = Site(root, str(espo.make_url("")).rstrip("/"), make_key("ES256"))
    (root / "policies").mkdir()
    (root / "policies" / "main.yaml").write_text(ALLOW_ALL)
    write_files(site, ratelimit=ratelimit)
    path = root / "gateway.yaml"
    app = build_app(load_config(path, ENV))
    reloader = Reloader(app, str(path), environ=ENV)
    client = await aiohttp_client(await aiohttp_server(app, access_log=None))
    return Gateway(site.root, site.espo_url, site.key, client, app, espo, reloader)


async def wait_for(predicate: Any, timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.01)


def sessions_closed(runtime: Runtime) -> bool:
    return all(up.session.closed for up in runtime.upstreams.values())


async def test_requests_in_flight_finish_on_the_old_runtime_which_closes_when_they_are_done(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    gw = await start(aiohttp_server, aiohttp_client, tmp_path)
    old = gw.runtime
    gw.espo.app[ESPO_CONFIG].delay_seconds = 0.6
    slow = asyncio.create_task(gw.get())
    await wait_for(lambda: len(gw.espo.app[ESPO_RECEIVED]) == 1)

    gw.write_policy(DENY_LEADS)
    assert await gw.reloader.reload() == "ok"
    assert gw.runtime is not old
    assert gw.app[INFLIGHT].count(old) == 1 and not sessions_closed(old)
    gw.espo.app[ESPO_CONFIG].delay_seconds = 0
    assert await gw.get() == 403, "a request started after the swap must see the new policy"
    assert not slow.done()

    assert await slow == 200
    await wait_for(lambda: sessions_closed(old), timeout=1.0)  # not the retire limit (minutes)
    assert not sessions_closed(gw.runtime)


@pytest.mark.parametrize(
    ("new_ratelimit", "limiter_kept", "third_request"),
    [(LIMIT_2, True, 429), (LIMIT_3, False, 200)],
    ids=["ratelimit-unchanged", "ratelimit-changed"],
)
async def test_the_memory_limiter_survives_a_reload_only_when_the_ratelimit_config_is_unchanged(
    aiohttp_server: Any,
    aiohttp_client: Any,
    tmp_path: Path,
    new_ratelimit: str,
    limiter_kept: bool,
    third_request: int,
) -> None:
    gw = await start(aiohttp_server, aiohttp_client, tmp_path, ratelimit=LIMIT_2)
    old = gw.runtime
    assert [await gw.get(), await gw.get()] == [200, 200]

    gw.write_policy(ALLOW_ALL + "\n# edited\n")
    write_files(gw, ratelimit=new_ratelimit)
    assert await gw.reloader.reload() == "ok"
    assert (gw.runtime.limiter is old.limiter) is limiter_kept
    await wait_for(lambda: sessions_closed(old))  # retired: a shared limiter must survive that
    assert await gw.get() == third_request


async def test_the_authenticator_and_its_keys_survive_a_reload_with_unchanged_identity_settings(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    gw = await start(aiohttp_server, aiohttp_client, tmp_path, ratelimit=LIMIT_2)
    old = gw.runtime
    gw.write_policy(ALLOW_ALL + "\n# edited\n")
    assert await gw.reloader.reload() == "ok"
    assert gw.runtime is not old and gw.runtime.authenticator is old.authenticator
    await wait_for(lambda: sessions_closed(old))
    assert gw.runtime.authenticator.ready()
    assert await gw.get() == 200


INVALID_EDITS = [  # (case, file edited, new text or None for gateway.yaml variants, where the log says)
    ("yaml", "gateway.yaml", "upstreams: [\n", r"gateway\.yaml:\d+"),
    ("unknown-key", "gateway.yaml", None, r"gateway\.yaml:\d+: surprise: unknown key"),
    (
        "policy",
        "policies/main.yaml",
        "policy: p\nsubjects: {principals: [x]}\nentities: 7\n",
        r"main\.yaml:\d+",
    ),
    (
        "secret-file",
        "gateway.yaml",
        None,
        r"gateway\.yaml:\d+: identities\[0\]\.espo-key\.api_key: cannot read",
    ),
]


@pytest.mark.parametrize(("case", "file", "text", "where"), INVALID_EDITS, ids=[c[0] for c in INVALID_EDITS])
async def test_an_invalid_config_is_refused_and_the_running_runtime_keeps_serving(
    aiohttp_server: Any,
    aiohttp_client: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    case: str,
    file: str,
    text: str | None,
    where: str,
) -> None:
    gw = await start(aiohttp_server, aiohttp_client, tmp_path)
    running = gw.runtime
    if case == "unknown-key":
        write_files(gw, extra="surprise: 1")
    elif case == "secret-file":
        write_files(gw, secret_file="missing.key")
    else:
        (tmp_path / file).write_text(text or "")

    with caplog.at_level(logging.ERROR, logger="gateway.reload"):
        assert await gw.reloader.reload() == "error"
    assert gw.runtime is running
    assert gw.reloads("error") == 1 and gw.reloads("ok") == 0
    assert await gw.get() == 200
    [record] = [r for r in caplog.records if r.name == "gateway.reload"]
    assert re.search(where, record.getMessage()), record.getMessage()
    assert not any(secret in record.getMessage() for secret in SECRETS)


async def test_a_rotated_secret_file_is_read_again(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    gw = await start(aiohttp_server, aiohttp_client, tmp_path)
    (tmp_path / "espo.key").write_text("a-key-the-sandbox-does-not-know\n")
    write_files(gw, secret_file="espo.key")
    assert await gw.reloader.reload() == "ok"
    assert await gw.get() == 401
    (tmp_path / "espo.key").write_text(ESPO_API_KEY + "\n")
    assert await gw.reloader.reload() == "ok"
    assert await gw.get() == 200


async def test_a_reload_with_nothing_changed_keeps_the_runtime(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    gw = await start(aiohttp_server, aiohttp_client, tmp_path)
    running = gw.runtime
    (tmp_path / "policies" / "notes.txt").write_text("not a policy file")
    assert await gw.reloader.reload() == "unchanged"
    assert gw.runtime is running and gw.reloads("unchanged") == 1


async def test_watch_reloads_a_policy_edit_once_and_reports_a_broken_edit_once(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    gw = await start(aiohttp_server, aiohttp_client, tmp_path)
    watcher = asyncio.create_task(gw.reloader.watch(interval=0.05, settle=0.02))
    try:
        gw.write_policy(DENY_LEADS)
        await wait_for(lambda: gw.reloads("ok") == 1)
        assert await gw.get() == 403
        gw.write_policy("policy: [broken\n")
        await wait_for(lambda: gw.reloads("error") == 1)
        await asyncio.sleep(0.3)  # six more polls of the same broken file
        assert gw.reloads("error") == 1 and await gw.get() == 403
    finally:
        watcher.cancel()


async def test_a_request_outliving_the_retire_limit_loses_its_connection_and_a_warning_says_so(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gw = await start(aiohttp_server, aiohttp_client, tmp_path)
    gw.reloader.retire_limit_seconds = 0.2
    old = gw.runtime
    gw.espo.app[ESPO_CONFIG].delay_seconds = 2
    slow = asyncio.create_task(gw.get())
    await wait_for(lambda: len(gw.espo.app[ESPO_RECEIVED]) == 1)
    gw.write_policy(DENY_LEADS)
    with caplog.at_level(logging.WARNING, logger="gateway.reload"):
        assert await gw.reloader.reload() == "ok"
        await wait_for(lambda: sessions_closed(old))
    assert "1 requests still use them" in caplog.text
    assert await slow == 502


async def test_shutdown_drains_then_closes_the_replaced_runtime_too(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    gw = await start(aiohttp_server, aiohttp_client, tmp_path)
    old = gw.runtime
    gw.espo.app[ESPO_CONFIG].delay_seconds = 0.3
    slow = asyncio.create_task(gw.get())
    await wait_for(lambda: len(gw.espo.app[ESPO_RECEIVED]) == 1)
    gw.write_policy(DENY_LEADS)
    assert await gw.reloader.reload() == "ok"
    new = gw.runtime
    await gw.client.server.close()  # shutdown while the old runtime still serves `slow`
    assert await slow == 200
    assert sessions_closed(old) and sessions_closed(new)


async def test_an_entity_a_new_policy_names_becomes_a_metric_label(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    gw = await start(aiohttp_server, aiohttp_client, tmp_path)
    metrics = gw.app[METRICS]
    assert metrics.bounds.entity("CWidget") == "other"
    gw.write_policy(DENY_LEADS + "  CWidget: {read: allow}\n")
    assert await gw.reloader.reload() == "ok"
    assert metrics.bounds.entity("CWidget") == "CWidget"
    assert metrics.bounds.entity("Lead") == "Lead"
