"""The README's first command (`crm-gateway demo`) and `crm-gateway token`, run as a user would."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import jwt

from gateway.auth.token_mint import generate_dev_key
from gateway.cli import main
from tests.support.ports import free_port as _free_port


async def test_demo_serves_the_curl_lines_it_prints() -> None:
    port, root_port = _free_port(), _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "demo",
            "--port",
            str(port),
            "--root-port",
            str(root_port),
            "--exit-after",
            "20",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        token, printed, deadline = "", "", time.monotonic() + 15
        while "Ctrl-C" not in printed and time.monotonic() < deadline:
            line = proc.stdout.readline()
            printed += line
            if line.startswith("TOKEN="):
                token = line.strip().split("=", 1)[1]
        assert token, "the demo printed no token"
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            for _ in range(50):
                try:
                    async with http.get(f"{base}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            async with http.get(
                f"{base}/civi/civicrm/ajax/api4/Contact/get", headers={"X-Civi-Auth": f"Bearer {token}"}
            ) as resp:
                body = await resp.json()
                assert resp.status == 200 and body["values"], body
            async with http.get(f"{base}/espo/api/v1/Lead?maxSize=5", headers={"X-Api-Key": token}) as resp:
                assert resp.status == 200 and (await resp.json())["list"]
            root = f"http://127.0.0.1:{root_port}"
            opaque = next(x for x in printed.splitlines() if x.startswith("OPAQUE_TOKEN=")).split("=", 1)[1]
            assert 40 <= len(opaque) <= 100 and len(token) > 255
            async with http.get(f"{root}/api/v1/Lead", headers={"X-Api-Key": opaque}) as resp:
                assert resp.status == 200 and (await resp.json())["list"]
            assert f"EspoCRM at a root URL: {root}" in printed
            async with http.get(f"{root}/api/v1/Lead?maxSize=5", headers={"X-Api-Key": token}) as resp:
                assert resp.status == 200 and (await resp.json())["list"]
            async with http.post(
                f"{base}/civi/civicrm/ajax/api4/Contact/delete",
                data={"params": json.dumps({"where": [["id", "=", 3]]})},
                headers={"Authorization": f"Bearer {token}"},
            ) as resp:
                assert resp.status == 403
                assert (await resp.json())["error_code"] == "policy-denied"
            async with http.get(f"{base}/espo/api/v1/Lead") as resp:
                assert resp.status == 401
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_token_command_mints_a_verifiable_jwt(tmp_path: Path, capsys: object) -> None:
    import pytest

    assert isinstance(capsys, pytest.CaptureFixture)
    private_pem, jwk = generate_dev_key("RS256")
    key_file = tmp_path / "key.pem"
    key_file.write_text(private_pem)
    code = main(
        [
            "token",
            "--key",
            str(key_file),
            "--issuer",
            "https://idp.test",
            "--audience",
            "crm-gateway",
            "--sub",
            "svc-x",
            "--role",
            "newsletter",
            "--lifetime",
            "600",
        ]
    )
    assert code == 0
    token = capsys.readouterr().out.strip()
    public = jwt.PyJWK(jwk).key
    claims = jwt.decode(
        token, public, algorithms=["RS256"], audience="crm-gateway", issuer="https://idp.test"
    )
    assert claims["sub"] == "svc-x" and claims["roles"] == ["newsletter"]
    assert claims["exp"] - claims["iat"] == 600
