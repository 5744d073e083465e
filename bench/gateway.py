"""The gateway under test: fresh keys and secrets for bench/gateway.yaml, a token, and `crm-gateway serve`."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.procs import Service, free_port, wait_for_port
from gateway.auth.token_mint import generate_dev_key, mint_token

HERE = Path(__file__).parent
CONFIG = HERE / "gateway.yaml"
CONFIG_REDIS = HERE / "gateway-redis.yaml"
ISSUER = "https://idp.bench.invalid"
AUDIENCE = "crm-gateway"
SUBJECT = "bench-integration"


@dataclass(frozen=True)
class Credentials:
    """What the runner fills into the config's ${env:...} references, and the client's token."""

    environ: dict[str, str]
    token: str


def make_credentials(upstream_url: str, redis_url: str = "") -> Credentials:
    private_pem, jwk = generate_dev_key("RS256")
    environ = {
        "BENCH_PUBLIC_JWK": json.dumps(jwk),
        "BENCH_UPSTREAM_URL": upstream_url,
        "BENCH_CIVI_SIGN_KEYS": f"jwt-hs256:hkdf-sha256:{secrets.token_hex(24)}",
        "BENCH_ESPO_API_KEY": secrets.token_hex(16),
        "BENCH_ESPO_SECRET": secrets.token_hex(16),
        "BENCH_REDIS_URL": redis_url or "redis://127.0.0.1:1",
    }
    token = mint_token(
        private_pem,
        issuer=ISSUER,
        audience=AUDIENCE,
        subject=SUBJECT,
        roles=["bench"],
        kid=jwk["kid"],
        algorithm="RS256",
        lifetime_seconds=4 * 3600,
    )
    return Credentials(environ, token)


def _command() -> list[str]:
    script = Path(sys.executable).parent / "crm-gateway"
    if script.exists():
        return [str(script)]
    found = shutil.which("crm-gateway")
    return [found] if found else [sys.executable, "-m", "gateway.cli"]


def start_gateway(
    workdir: Path, credentials: Credentials, *, config: Path = CONFIG, workers: int = 1, name: str = "gateway"
) -> Service:
    """``crm-gateway serve`` as a subprocess: access log (stdout) to /dev/null, its own log to a file."""
    port = free_port()
    command = [*_command(), "serve", "--config", str(config), "--port", str(port)]
    command += ["--workers", str(workers), "--grace-seconds", "2"]
    env = {**os.environ, **credentials.environ}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, env=env)
    service = Service(name, process, port)
    wait_for_port(service, log_path)
    _wait_ready(service, log_path)
    return service


def start_passthrough(workdir: Path, upstream_url: str) -> Service:
    """The bare aiohttp proxy of bench/passthrough.py: what aiohttp alone costs per request."""
    port = free_port()
    log_path = workdir / "passthrough.log"
    command = [sys.executable, "-m", "bench.passthrough", "--port", str(port), "--upstream", upstream_url]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, cwd=HERE.parent)
    service = Service("aiohttp-passthrough", process, port)
    wait_for_port(service, log_path)
    return service


def _wait_ready(service: Service, log: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(service.url + "/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline or service.process.poll() is not None:
            service.stop()
            raise RuntimeError(
                f"{service.name} never became ready\n{log.read_text(errors='replace')[-2000:]}"
            )
        time.sleep(0.1)


def probe(url: str, method: str, headers: dict[str, str], body: str = "") -> tuple[int, bytes]:
    """One request, to check a target answers 200 before loading it."""
    request = urllib.request.Request(url, method=method, headers=headers, data=body.encode() or None)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
