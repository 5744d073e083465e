"""Helpers for the ``test_server_*`` tests (no tests here): ``crm-gateway serve`` as a real subprocess,
on 127.0.0.1, in front of an in-process sandbox EspoCRM.

    site = GatewaySite.write(tmp_path, espo_url)              # gateway.yaml, policies/, espo.key
    async with serving(site.config, "--watch") as gw:         # waits until it answers /healthz
        status = await gw.get("/espo/api/v1/Lead", site.bearer())
        gw.send(signal.SIGHUP); await gw.wait_for_log("reloaded")
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from gateway.sandbox.espocrm import ESPO_RECEIVED, build_espo_app
from tests.support.jwt_factory import AUDIENCE, ISSUER, SigningKey, claims, make_key, sign
from tests.support.stack import ESPO_API_KEY, espo_sandbox_config

ROOT = Path(__file__).resolve().parents[2]
ALLOW_LEADS = """
policy: svc
subjects: {principals: [svc-test]}
upstreams: [espo]
entities:
  Lead: {read: allow}
"""
DENY_LEADS = """
policy: svc
subjects: {principals: [svc-test]}
upstreams: [espo]
entities:
  Lead: {read: deny}
"""
LEADS = "/espo/api/v1/Lead"
_LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)|workers on 127\.0\.0\.1:(\d+)")


@dataclass
class GatewaySite:
    """The files of one gateway: the config, one policy file and the Espo API key file."""

    root: Path
    espo_url: str
    key: SigningKey
    extra: str = ""
    listen: str = ""
    """More ``listen`` keys, as ``key: value, ...``."""
    upstream: str = ""
    """More keys of the espo upstream, one YAML line each at four spaces."""
    root_port: int | None = None
    """Also the same EspoCRM as ``espo-root``, served at the root of this gateway port (``match.port``)."""

    @property
    def config(self) -> Path:
        return self.root / "gateway.yaml"

    @property
    def policy(self) -> Path:
        return self.root / "policies" / "svc.yaml"

    @property
    def espo_key_file(self) -> Path:
        return self.root / "espo.key"

    @classmethod
    def write(
        cls,
        root: Path,
        espo_url: str,
        *,
        policy: str = ALLOW_LEADS,
        extra: str = "",
        listen: str = "",
        upstream: str = "",
        root_port: int | None = None,
    ) -> GatewaySite:
        site = cls(
            root=root,
            espo_url=espo_url,
            key=make_key("ES256"),
            extra=extra,
            listen=listen,
            upstream=upstream,
            root_port=root_port,
        )
        site.policy.parent.mkdir(parents=True, exist_ok=True)
        site.policy.write_text(policy)
        site.espo_key_file.write_text(ESPO_API_KEY + "\n")
        site.config.write_text(site.config_text())
        return site

    def config_text(self, *, espo_url: str | None = None) -> str:
        """``espo_url`` is line 12 of the file (tests break it there)."""
        return "\n".join(
            [
                f"listen: {{host: 127.0.0.1, port: 0{', ' + self.listen if self.listen else ''}}}",
                "identity:",
                "  issuers:",
                f"    - issuer: {ISSUER}",
                f"      audiences: [{AUDIENCE}]",
                "      algorithms: [ES256]",
                f"      keys: [{{kid: {self.key.kid}, jwk: '{json.dumps(self.key.jwk)}'}}]",
                "upstreams:",
                "  espo:",
                "    dialect: espocrm",
                "    match: {path_prefix: /espo}",
                f"    url: {espo_url or self.espo_url}",
                "    auth: {scheme: espo-apikey}",
                *([self.upstream] if self.upstream else []),
                *(self._root_upstream(espo_url or self.espo_url) if self.root_port is not None else []),
                "identities:",
                "  - match: {sub: svc-test}",
                "    espo: {api_key: '${file:espo.key}'}",
                *(["    espo-root: {api_key: '${file:espo.key}'}"] if self.root_port is not None else []),
                "policies: [policies/]",
                self.extra,
                "",
            ]
        )

    def _root_upstream(self, espo_url: str) -> list[str]:
        return [
            "  espo-root:",
            "    dialect: espocrm",
            f"    match: {{port: {self.root_port}}}",
            f"    url: {espo_url}",
            "    auth: {scheme: espo-apikey}",
        ]

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {sign(self.key, claims(sub='svc-test'))}"}


@dataclass
class GatewayProcess:
    proc: asyncio.subprocess.Process
    port: int = 0
    lines: list[str] = field(default_factory=list)
    access: list[str] = field(default_factory=list)
    """stdout: the access log lines."""
    _reader: asyncio.Task[None] | None = None
    _out_reader: asyncio.Task[None] | None = None
    _new_line: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    async def start(
        cls, config: Path, *args: str, env: Mapping[str, str] | None = None, ready: bool = True
    ) -> GatewayProcess:
        environ = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        environ.update({"PYTHONUNBUFFERED": "1", **(env or {})})
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway.cli",
            "serve",
            "--config",
            str(config),
            *args,
            cwd=ROOT,
            env=environ,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group: teardown can kill the workers too
        )
        gw = cls(proc)
        gw._reader = asyncio.get_running_loop().create_task(gw._read_stderr())
        gw._out_reader = asyncio.get_running_loop().create_task(gw._read_stdout())
        if ready:
            try:
                match = await gw.wait_for_log(_LISTENING, timeout=20)
                gw.port = int(match.group(1) or match.group(2))
                await gw.wait_healthy()
            except BaseException:
                await gw.close()
                raise
        return gw

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
            self._new_line.set()

    async def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            self.access.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def access_records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.access if line.startswith("{")]

    def json_logs(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines if line.startswith("{")]

    async def wait_for_log(self, pattern: str | re.Pattern[str], *, timeout: float = 10.0) -> re.Match[str]:
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            self._new_line.clear()
            finished = self._reader is not None and self._reader.done()  # stderr closed: no more lines
            upto = len(self.lines)
            for line in self.lines[seen:upto]:
                match = regex.search(line)
                if match is not None:
                    return match
            seen = upto
            left = deadline - time.monotonic()
            if left <= 0 or finished:
                raise AssertionError(
                    f"no log line matching {regex.pattern!r}; stderr:\n" + "\n".join(self.lines)
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_line.wait(), left)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def request(
        self, method: str, path: str, headers: Mapping[str, str] | None = None, timeout: float = 10.0
    ) -> tuple[int, bytes]:
        """One request on a fresh connection (the kernel picks the worker per connection)."""
        async with (
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True), timeout=aiohttp.ClientTimeout(total=timeout)
            ) as session,
            session.request(method, self.url(path), headers=headers) as resp,
        ):
            return resp.status, await resp.read()

    async def get(self, path: str, headers: Mapping[str, str] | None = None, timeout: float = 10.0) -> int:
        return (await self.request("GET", path, headers, timeout))[0]

    async def wait_healthy(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if await self.get("/healthz", timeout=2.0) == 200:
                    return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("gateway never became healthy; stderr:\n" + "\n".join(self.lines))
            await asyncio.sleep(0.05)

    async def metric(self, name: str, **labels: str) -> float:
        """The sum of a metric's samples whose labels include ``labels``, from one scrape."""
        status, body = await self.request("GET", "/metrics")
        assert status == 200
        total = 0.0
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total

    async def wait_metric(self, name: str, value: float, *, timeout: float = 10.0, **labels: str) -> None:
        deadline = time.monotonic() + timeout
        while (current := await self.metric(name, **labels)) != value:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{name}{labels} is {current}, not {value}; stderr:\n" + "\n".join(self.lines)
                )
            await asyncio.sleep(0.05)

    def send(self, signum: int) -> None:
        self.proc.send_signal(signum)

    async def wait_exit(self, timeout: float) -> int:
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 5)
        return code

    async def close(self) -> None:
        """Teardown: SIGKILL whatever is still running (a test that passed has stopped it already)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        await asyncio.wait_for(self.proc.wait(), 10)
        for reader in (self._reader, self._out_reader):
            if reader is not None:
                reader.cancel()


@contextlib.asynccontextmanager
async def serving(
    config: Path, *args: str, env: Mapping[str, str] | None = None
) -> AsyncIterator[GatewayProcess]:
    """A started gateway process, killed (with its workers) on the way out if a test left it running."""
    gw = await GatewayProcess.start(config, *args, env=env)
    try:
        yield gw
    finally:
        await gw.close()


async def start_espo(aiohttp_server: Any) -> TestServer:
    """The sandbox EspoCRM of ``tests.support.stack``, in this test's event loop."""
    server: TestServer = await aiohttp_server(build_espo_app(espo_sandbox_config()), access_log=None)
    return server


def base_url(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


async def wait_received(espo: TestServer, count: int, timeout: float = 10.0) -> None:
    """Until the sandbox has seen ``count`` requests (they are then in flight through the gateway)."""
    deadline = time.monotonic() + timeout
    while len(espo.app[ESPO_RECEIVED]) < count:
        assert time.monotonic() < deadline, f"the sandbox got {len(espo.app[ESPO_RECEIVED])} of {count}"
        await asyncio.sleep(0.02)


async def raw_exchange(port: int, path: str, headers: Mapping[str, str], timeout: float) -> bytes:
    """Send one GET over a plain socket and return every byte the server sends until it closes.
    (aiohttp's client would retry a GET whose connection was closed; this sees what a client sees.)"""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}\r\n".encode())
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


async def connection_refused(port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:  # the listener was closing as this connection arrived
        return False
    writer.close()
    return False


def assert_no_secret(lines: Sequence[str], *secrets: str) -> None:
    for line in lines:
        for secret in secrets:
            assert secret not in line, f"a secret leaked into: {line}"
