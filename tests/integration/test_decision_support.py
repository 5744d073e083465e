"""Real nginx and Caddy in front of the gateway's decision endpoint, for the test_decision_* modules.

Not a test module of its own (it holds no tests); named test_* so it lives beside the tests it serves.

    stack = await start_stack(..., extra=DECISION)
    with running_frontend("nginx", stack) as front:
        status, headers, body = await front.request("GET", "/espo-key/api/v1/Lead", stack.bearer())

The front proxy's config is the one ``crm-gateway frontend`` prints for the stack's gateway.yaml. When the
binary is missing the test is skipped, except under CI (``$CI`` set), where it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDictProxy
from yarl import URL

from gateway.frontends import caddy, nginx
from gateway.frontends.plan import make_plan
from tests.support.ports import free_port
from tests.support.stack import SECRETS, Stack

FRONTENDS = ("nginx", "caddy")
START_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 10.0
DECIDED = (
    "civi-jwt",
    "civi-jwt-header",
    "civi-basic",
    "espo-key",
    "espo-hmac",
    "espo-hmac-raw",
    "espo-basic",
    "espo-token",
    "espo-by-host",
)
"""Every upstream of tests.support.stack whose scheme a front proxy can apply (not civicrm-keys, not
flow param, not authx-apikey, whose credential is a field answers carry): those stay in proxy mode behind
the same front proxy."""
ESPO_DECIDED = tuple(name for name in DECIDED if name.startswith("espo-"))
API_KEY_READABLE = """fields:
  "*": {allow: [api_key]}
"""
"""Decision mode never sees the CRM's answer, so it cannot remove a CiviCRM ``api_key`` from it: a CiviCRM
upstream is served there only by policies that let its readers read ``api_key`` (else refused at load)."""
ALLOW_ALL = f"""
policy: test-allow-all
subjects: {{principals: [svc-test]}}
entities:
  "*": {{default: allow}}
{API_KEY_READABLE}"""
ESPO_OPAQUE = f"""
policy: test-espo-opaque
subjects: {{principals: [svc-test]}}
upstreams: [{", ".join(ESPO_DECIDED)}]
opaque: ["GET /Attachment/file/:id", "GET /App/user"]
"""
POLICIES = {"allow-all": ALLOW_ALL, "espo-opaque": ESPO_OPAQUE}
"""tests.support.stack's allow-all, split so that the CiviCRM upstreams can be decided."""
DECISION = f"""decision:
  trusted_proxies: [127.0.0.1/32, "::1/128"]
  upstreams: [{", ".join(DECIDED)}]
"""


def binary(kind: str) -> str | None:
    found = shutil.which(kind)
    if found:
        return found
    for folder in ("/usr/sbin", "/usr/bin"):
        path = f"{folder}/{kind}"
        if os.access(path, os.X_OK):
            return path
    return None


def require(kind: str) -> str:
    """The binary's path; skip without it, but fail under CI where it must be installed."""
    path = binary(kind)
    if path is None:
        message = f"{kind} is not installed (apt-get install -y {'nginx-light' if kind == 'nginx' else kind})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@dataclass
class Answer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def reason(self) -> str | None:
        """The gateway's machine reason, in whichever dialect the body speaks."""
        try:
            body = self.json()
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        value = body.get("error_code", body.get("reason"))
        return value if isinstance(value, str) else None


async def send(
    base: str,
    method: str,
    target: str,
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
) -> Answer:
    """One request with the target sent byte for byte (no normalisation by the client)."""
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with (
        aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session,
        session.request(
            method,
            URL(base + target, encoded=True),
            headers=dict(headers or {}),
            data=data,
            allow_redirects=False,
        ) as resp,
    ):
        return Answer(resp.status, resp.headers, await resp.read())


@dataclass
class Frontend:
    kind: str
    port: int
    process: subprocess.Popen[bytes]
    workdir: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def request(
        self, method: str, target: str, headers: Mapping[str, str] | None = None, data: bytes | None = None
    ) -> Answer:
        return await send(self.base, method, target, headers, data)

    def log(self) -> str:
        return (self.workdir / "output.log").read_text(errors="replace")


def gateway_address(stack: Stack) -> str:
    server = stack.client.server
    return f"127.0.0.1:{server.port}"


def write_config(kind: str, stack: Stack, port: int, workdir: Path) -> list[str]:
    """The generated config in ``workdir``; returns the command line that runs it in the foreground."""
    plan = make_plan(stack.config, listen=f"127.0.0.1:{port}", gateway=gateway_address(stack))
    if kind == "nginx":
        (workdir / "nginx.conf").write_text(nginx.standalone(plan, workers="1"))
        return [require("nginx"), "-p", str(workdir), "-c", "nginx.conf", "-e", "stderr", "-g", "daemon off;"]
    (workdir / "Caddyfile").write_text(caddy.caddyfile(plan))
    return [require("caddy"), "run", "--config", str(workdir / "Caddyfile"), "--adapter", "caddyfile"]


def _wait_for_port(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"front proxy exited with {process.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise AssertionError(
        f"front proxy did not listen on {port} within {START_TIMEOUT_S}s:\n{log.read_text()}"
    )


@contextmanager
def running_frontend(kind: str, stack: Stack) -> Iterator[Frontend]:
    """nginx or Caddy on a free loopback port with the generated config, stopped afterwards."""
    # Not under pytest's tmp_path: nginx workers run unprivileged and must reach their temp folders.
    workdir = Path(tempfile.mkdtemp(prefix=f"crmgw-{kind}-"))
    workdir.chmod(0o755)
    port = free_port()
    command = write_config(kind, stack, port, workdir)
    env = {**os.environ, "XDG_DATA_HOME": str(workdir), "XDG_CONFIG_HOME": str(workdir), "HOME": str(workdir)}
    log = workdir / "output.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    try:
        _wait_for_port(process, port, log)
        yield Frontend(kind, port, process, workdir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        shutil.rmtree(workdir, ignore_errors=True)


def assert_no_secret_or_token(stack: Stack, token: str) -> None:
    """Nothing the client sent as a credential reached a sandbox CRM, in a header or the target."""
    for seen in stack.received():
        for name, value in seen.headers.items():
            assert token not in value, f"the client's token reached the CRM in {name}"
        assert token not in seen.path_qs, "the client's token reached the CRM in the URL"


def assert_no_secret_in(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text
