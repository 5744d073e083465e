"""`crm-gateway token --opaque` gets a token from the sandbox IdP, which then introspects it as active."""

from __future__ import annotations

import asyncio
import base64
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.idp import GATEWAY_CLIENT, GATEWAY_SECRET, MINTER, MINTER_SECRET, start_idp


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "token",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_token_opaque_mints_at_the_idp(aiohttp_server: Any, tmp_path: Path) -> None:
    idp = await start_idp(aiohttp_server)
    secret_file = tmp_path / "secret"
    secret_file.write_text(MINTER_SECRET + "\n")
    code, out, err = await run_cli(
        "--opaque",
        "--idp",
        idp.url,
        "--client-id",
        MINTER,
        "--client-secret-file",
        str(secret_file),
        "--sub",
        "svc-opaque",
        "--scope",
        "crm.read",
        env={},
    )
    assert code == 0, err
    token = out.strip()
    assert 40 <= len(token) <= 100 and token.count(".") == 0
    async with aiohttp.ClientSession() as http:
        basic = base64.b64encode(f"{GATEWAY_CLIENT}:{GATEWAY_SECRET}".encode()).decode()
        headers = {"Authorization": f"Basic {basic}"}
        async with http.post(idp.introspect_url, data={"token": token}, headers=headers) as resp:
            body = await resp.json()
    assert body["active"] is True and body["sub"] == "svc-opaque" and body["scope"] == "crm.read"


async def test_a_wrong_client_secret_fails_without_printing_it(aiohttp_server: Any) -> None:
    idp = await start_idp(aiohttp_server)
    code, out, err = await run_cli(
        "--opaque",
        "--idp",
        idp.url,
        "--client-id",
        MINTER,
        "--sub",
        "svc",
        env={"CRM_GATEWAY_CLIENT_SECRET": "wrong-secret-value-42"},
    )
    assert code == 1 and out == ""
    assert "HTTP 401 invalid_client" in err and "wrong-secret-value-42" not in err
