"""Shared by the deploy tests: paths, and a config relocated into tmp_path with its secret files made up."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
CHART = REPO / "helm" / "crm-auth-gateway"
PRODUCTION_VALUES = CHART / "ci" / "production-values.yaml"
DEPLOY_CONFIG = REPO / "deploy" / "gateway.yaml"
DEPLOY_POLICIES = REPO / "deploy" / "policies"

FILE_REF = re.compile(r"\$\{file:([^}]+)\}")
ENV_REF = re.compile(r"\$\{env:([^}]+)\}")


def fake_secret(path: str) -> str:
    """A value of the right shape for a secret file, judged by its name."""
    name = PurePosixPath(path).name
    if name == "sign-keys":
        return f"jwt-hs256:hkdf-sha256:{secrets.token_hex(16)}"
    if name == "url":
        return "redis://127.0.0.1:1/0"
    return secrets.token_hex(16)


def relocate(text: str, moves: Mapping[str, Path]) -> str:
    """Point absolute path prefixes (``/run/secrets/``) at directories under tmp_path."""
    for prefix, target in moves.items():
        text = text.replace(prefix, f"{target}/")
    return text


def write_secret_files(text: str) -> dict[str, str]:
    """Create every ``${file:...}`` the config names (absolute paths, already relocated)."""
    written: dict[str, str] = {}
    for match in FILE_REF.finditer(text):
        path = Path(match.group(1).strip())
        if str(path) in written:
            continue
        value = fake_secret(str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value + "\n", encoding="utf-8")
        written[str(path)] = value
    return written


def materialize_deploy_config(
    dest: Path, extra: Mapping[str, str] | None = None
) -> tuple[Path, dict[str, str]]:
    """deploy/gateway.yaml and its policies copied under ``dest`` with /run/secrets/ moved there too;
    ``extra`` replaces further strings (URLs, ports). Returns the config path and the secrets written."""
    text = relocate(DEPLOY_CONFIG.read_text(encoding="utf-8"), {"/run/secrets/": dest / "secrets"})
    for old, new in (extra or {}).items():
        text = text.replace(old, new)
    written = write_secret_files(text)
    (dest / "policies").mkdir(parents=True, exist_ok=True)
    for policy in DEPLOY_POLICIES.glob("*.yaml"):
        (dest / "policies" / policy.name).write_text(policy.read_text(encoding="utf-8"), encoding="utf-8")
    config = dest / "gateway.yaml"
    config.write_text(text, encoding="utf-8")
    return config, written


def load_yaml(path: Path) -> object:
    return yaml.safe_load(path.read_text(encoding="utf-8"))
