"""SIGHUP and --watch on a real ``crm-gateway serve`` process: policies, refusals, rotated secrets."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.sandbox.espocrm import ESPO_AUTH
from tests.integration.test_server_harness import (
    ALLOW_LEADS,
    DENY_LEADS,
    LEADS,
    GatewayProcess,
    GatewaySite,
    assert_no_secret,
    base_url,
    serving,
    start_espo,
)
from tests.support.stack import ESPO_API_KEY

pytestmark = pytest.mark.timeout(60)
RELOADS = "crmgw_config_reloads_total"
ROTATED_KEY = "rotated-espo-api-key-5a0d3f6c"


async def reload_and_wait(gw: GatewayProcess, outcome: str, expected: float) -> None:
    gw.send(signal.SIGHUP)
    await gw.wait_metric(RELOADS, expected, outcome=outcome)


async def test_sighup_swaps_the_policy_refuses_an_invalid_config_and_skips_an_unchanged_one(
    aiohttp_server: Any, tmp_path: Path
) -> None:
    espo = await start_espo(aiohttp_server)
    site = GatewaySite.write(tmp_path, base_url(espo))
    async with serving(site.config) as gw:
        assert await gw.get(LEADS, site.bearer()) == 200
        site.policy.write_text(DENY_LEADS)
        await reload_and_wait(gw, "ok", 1)
        assert await gw.get(LEADS, site.bearer()) == 403
        assert gw.proc.returncode is None
        assert sum("listening on" in line for line in gw.lines) == 1, "the process restarted"

        await reload_and_wait(gw, "unchanged", 1)  # nothing changed since: no rebuild

        site.policy.write_text(ALLOW_LEADS)  # would allow, if the config it belongs to loaded
        site.config.write_text(site.config_text(espo_url="ftp://espo.invalid"))
        await reload_and_wait(gw, "error", 1)
        assert await gw.get(LEADS, site.bearer()) == 403, "the running config was replaced"
        refusals = [entry for entry in gw.json_logs() if entry["level"] == "ERROR"]
        assert [entry["logger"] for entry in refusals] == ["gateway.reload"]
        assert f"{site.config}:12: upstreams.espo.url: must be an absolute http" in refusals[0]["message"]
        assert_no_secret(gw.lines, ESPO_API_KEY)

        site.config.write_text(site.config_text())  # fixed: the next SIGHUP takes the new policy
        await reload_and_wait(gw, "ok", 2)
        assert await gw.get(LEADS, site.bearer()) == 200


async def test_sighup_rereads_a_rotated_secret_file(aiohttp_server: Any, tmp_path: Path) -> None:
    espo = await start_espo(aiohttp_server)
    site = GatewaySite.write(tmp_path, base_url(espo))
    async with serving(site.config) as gw:
        assert await gw.get(LEADS, site.bearer()) == 200
        user = espo.app[ESPO_AUTH].user_by_name("api_user")
        assert user is not None
        user.api_key = ROTATED_KEY  # the CRM rotates the key: the gateway's is stale now
        assert await gw.get(LEADS, site.bearer()) == 401

        site.espo_key_file.write_text(ROTATED_KEY + "\n")
        await reload_and_wait(gw, "ok", 1)
        assert await gw.get(LEADS, site.bearer()) == 200
        assert_no_secret(gw.lines, ESPO_API_KEY, ROTATED_KEY)


async def test_watch_reloads_an_edited_policy_file_within_seconds(
    aiohttp_server: Any, tmp_path: Path
) -> None:
    espo = await start_espo(aiohttp_server)
    site = GatewaySite.write(tmp_path, base_url(espo))
    async with serving(site.config, "--watch") as gw:
        assert await gw.get(LEADS, site.bearer()) == 200
        replace_atomically(site.policy, DENY_LEADS)
        edited_at = time.monotonic()
        while await gw.get(LEADS, site.bearer()) != 403:
            assert time.monotonic() - edited_at < 2.5, "the edit was not picked up"
        reloads = [json.loads(line)["message"] for line in gw.lines if "reloaded" in line]
        assert reloads == [f"reloaded {site.config} (file-change)"]
        assert await gw.metric(RELOADS, outcome="ok") == 1


def replace_atomically(path: Path, text: str) -> None:
    """How docs/operations.md says to change a watched file (a ConfigMap update does the same)."""
    staged = path.with_name(f".{path.name}.new")
    staged.write_text(text)
    os.replace(staged, path)


async def test_watch_does_not_load_a_config_written_in_two_parts(aiohttp_server: Any, tmp_path: Path) -> None:
    """The field case: the first half (no identities, no policies yet), then the rest 2 s later. Loaded
    early, every request was refused as no-identity."""
    espo = await start_espo(aiohttp_server)
    site = GatewaySite.write(tmp_path, base_url(espo))
    full = site.config_text() + "# edited\n"
    first = full[: full.index("identities:")]
    async with serving(site.config, "--watch") as gw:
        with site.config.open("w") as out:
            out.write(first)
            out.flush()
            for _ in range(20):  # 2 s of traffic while the file is half-written
                assert await gw.get(LEADS, site.bearer()) == 200
                await asyncio.sleep(0.1)
            out.write(full[len(first) :])
        await gw.wait_metric(RELOADS, 1, outcome="ok", timeout=15)
        assert await gw.get(LEADS, site.bearer()) == 200
        assert await gw.metric(RELOADS, outcome="error") == 0
