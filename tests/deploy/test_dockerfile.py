"""The Dockerfile without a Docker engine: its facts checked against the chart and the CLI, and its build
stage run for real (the same COPY and RUN steps, in tmp_path, with this interpreter as `python`), then the
installed `crm-gateway` started as the image would start it."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gateway import __version__
from gateway.cli import DEFAULT_CONFIG
from tests.deploy.deploy_support import (
    CHART,
    DEPLOY_CONFIG,
    DOCKERFILE,
    REPO,
    load_yaml,
    materialize_deploy_config,
)
from tests.support.ports import free_port

UID = 10001


@dataclass
class Stage:
    base: str
    name: str | None
    steps: list[tuple[str, str]] = field(default_factory=list)

    def args(self, instruction: str) -> list[str]:
        return [a for i, a in self.steps if i == instruction]

    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for line in self.args("ENV"):
            for pair in shlex.split(line):
                key, _, value = pair.partition("=")
                env[key] = value
        return env


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages with their instructions; continuation lines joined, comments dropped, global ARGs applied."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        if not pending and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        lines.append(pending + raw)
        pending = ""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in lines:
        instruction, _, rest = line.strip().partition(" ")
        instruction, rest = instruction.upper(), rest.strip()
        if instruction == "ARG" and not stages:
            key, _, value = rest.partition("=")
            global_args[key] = value
        elif instruction == "FROM":
            for key, value in global_args.items():
                rest = rest.replace(f"${{{key}}}", value)
            base, _, name = rest.partition(" AS ")
            stages.append(Stage(base=base.strip(), name=name.strip() or None))
        else:
            stages[-1].steps.append((instruction, rest))
    return stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def test_two_stages_on_one_pinned_slim_python(stages: list[Stage]) -> None:
    build, final = stages
    assert build.name == "build" and final.name is None
    assert build.base == final.base
    image, _, tag = final.base.partition(":")
    assert image == "python"
    version, _, variant = tag.partition("-")
    assert variant.startswith("slim-")
    major, minor, patch = (int(part) for part in version.split("."))
    assert (major, minor) >= (3, 11), "pyproject says requires-python >= 3.11"
    assert patch >= 0


def test_runs_as_the_non_root_user_the_chart_expects(stages: list[Stage]) -> None:
    final = stages[-1]
    assert final.args("USER") == [f"{UID}:{UID}"]
    [useradd] = final.args("RUN")
    assert f"--uid {UID}" in useradd and f"--gid {UID}" in useradd
    values = load_yaml(CHART / "values.yaml")
    assert isinstance(values, dict)
    assert values["podSecurityContext"]["runAsUser"] == UID
    assert values["podSecurityContext"]["runAsGroup"] == UID


def test_entrypoint_and_default_command(stages: list[Stage]) -> None:
    final = stages[-1]
    assert [json.loads(a) for a in final.args("ENTRYPOINT")] == [["crm-gateway"]]
    assert [json.loads(a) for a in final.args("CMD")] == [["serve", "--config", DEFAULT_CONFIG]]
    assert DEFAULT_CONFIG == "/etc/crm-gateway/gateway.yaml"


def test_exposed_ports_are_the_gateway_and_admin_ports(stages: list[Stage]) -> None:
    [exposed] = stages[-1].args("EXPOSE")
    values = load_yaml(CHART / "values.yaml")
    example = load_yaml(DEPLOY_CONFIG)
    assert isinstance(values, dict) and isinstance(example, dict)
    assert {int(p) for p in exposed.split()} == {values["gateway"]["port"], values["gateway"]["adminPort"]}
    assert example["listen"]["port"] == values["gateway"]["port"]
    assert example["observability"]["admin"]["port"] == values["gateway"]["adminPort"]


def test_final_stage_is_read_only_friendly(stages: list[Stage]) -> None:
    build, final = stages
    env = final.env()
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["TMPDIR"] == "/tmp"
    venv = build.env()["VENV"]
    assert env["PATH"].startswith(f"{venv}/bin:")
    assert f"--from=build {venv} {venv}" in final.args("COPY")
    [healthcheck] = final.args("HEALTHCHECK")
    assert "CMD [" in healthcheck and "CRM_GATEWAY_HEALTH_URL" in healthcheck
    assert env["CRM_GATEWAY_HEALTH_URL"].endswith(":8080/healthz")


def test_dockerignore_lets_in_exactly_what_the_build_copies(stages: list[Stage]) -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "an allow-list: everything else stays out of the build context"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    copied = {src.rstrip("/") for line in stages[0].args("COPY") for src in line.split()[:-1]}
    assert copied == allowed
    assert all((REPO / src).exists() for src in copied)


# --- the build stage, run ----------------------------------------------------------------------


def _pip_reaches_the_index(tmp_path: Path) -> bool:
    probe = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "-d", str(tmp_path)]
    done = subprocess.run([*probe, "setuptools>=68"], capture_output=True, timeout=120)
    return done.returncode == 0


def run_build_stage(stage: Stage, root: Path) -> dict[str, str]:
    """COPY and RUN as Docker would, with absolute paths moved under ``root``; returns the stage ENV."""
    env = {k: str(root / v.lstrip("/")) if v.startswith("/") else v for k, v in stage.env().items()}
    shim = root / "shim"
    shim.mkdir(parents=True)
    (shim / "python").symlink_to(sys.executable)
    run_env = {**os.environ, **env, "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}"}
    run_env.pop("PYTHONPATH", None)
    workdir = root
    for instruction, args in stage.steps:
        if instruction == "WORKDIR":
            workdir = root / args.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction == "COPY":
            *sources, dest = args.split()
            for src in sources:
                copy_into(REPO / src, workdir / dest)
        elif instruction == "RUN":
            assert " /" not in args, "build steps name paths through ENV or WORKDIR only"
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", args],
                cwd=workdir,
                env=run_env,
                capture_output=True,
                text=True,
                timeout=240,
            )
            if done.returncode != 0:
                if not _pip_reaches_the_index(root / "probe"):
                    pytest.skip("pip cannot reach the package index")
                pytest.fail(
                    f"RUN {args}\nexit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
                )
    return env


def copy_into(src: Path, dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")
    if src.is_dir():
        shutil.copytree(src, dest, ignore=ignore, dirs_exist_ok=True)
    else:
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / src.name)


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def get_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.timeout(300)
def test_build_stage_installs_a_working_gateway(stages: list[Stage], tmp_path: Path) -> None:
    build, final = stages
    env = run_build_stage(build, tmp_path / "image")
    venv = Path(env["VENV"])
    exe = venv / "bin" / "crm-gateway"
    assert not (venv / "bin" / "pip").exists(), "the runtime venv carries no pip"
    assert list(venv.glob("lib/python3*/site-packages/uvloop")), "the speed extra is installed"

    runtime_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
        **{k: v for k, v in final.env().items() if k != "PATH"},
        "TMPDIR": str(tmp_path),
    }
    before = tree(venv)
    version = subprocess.run(
        [str(exe), "--version"], env=runtime_env, capture_output=True, text=True, timeout=60
    )
    assert version.stdout.strip() == f"crm-gateway {__version__}"

    admin, port, closed = free_port(), free_port(), free_port()
    config, _ = materialize_deploy_config(
        tmp_path / "etc",
        {
            "https://idp.example.org/realms/crm/protocol/openid-connect/certs": f"http://127.0.0.1:{closed}/",
            "host: 0.0.0.0, port: 8080": f"host: 127.0.0.1, port: {port}",
            "host: 0.0.0.0, port: 9090": f"host: 127.0.0.1, port: {admin}",
        },
    )
    check = subprocess.run(
        [str(exe), "check", "--strict", "--config", str(config)],
        env=runtime_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith("ok: ")

    server = subprocess.Popen(
        [str(exe), "serve", "--config", str(config), "--grace-seconds", "2"],
        env=runtime_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while get_status_or_none(f"http://127.0.0.1:{admin}/healthz") != 200:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            assert time.monotonic() < deadline, "no /healthz within 20 s"
            time.sleep(0.1)
        assert get_status(f"http://127.0.0.1:{admin}/readyz") == 503, "no JWKS yet: not ready"
        [healthcheck] = final.args("HEALTHCHECK")
        probe = json.loads(healthcheck[healthcheck.index("CMD") + 3 :])
        probe[0] = str(venv / "bin" / probe[0])
        health_env = {**runtime_env, "CRM_GATEWAY_HEALTH_URL": f"http://127.0.0.1:{admin}/healthz"}
        assert subprocess.run(probe, env=health_env, timeout=30).returncode == 0
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=15) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
    assert tree(venv) == before, "running the gateway wrote into the installed tree"


def get_status_or_none(url: str) -> int | None:
    try:
        return get_status(url)
    except OSError:
        return None
