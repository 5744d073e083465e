"""A JWKS URL without TLS: the keys that decide who may call could be swapped on the way. ``serve``
warns, ``check --strict`` refuses; loopback (a sidecar, the tests) is exempt."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.unit.commands.test_cmd_check import FIXTURES, environment, run

__all__ = ["environment"]  # autouse: the fixture's environment variables


def variant(tmp_path: Path, jwks_url: str) -> Path:
    for item in FIXTURES.iterdir():
        target = tmp_path / item.name
        if item.is_dir():
            shutil.copytree(item, target)
        else:
            shutil.copy(item, target)
    config = tmp_path / "ok.yaml"
    text = config.read_text().replace("https://idp.example.org/realms/crm/certs", jwks_url)
    config.write_text(text)
    return config


@pytest.mark.parametrize("url", ["http://idp.example.org/realms/crm/certs", "http://10.0.0.5:8080/certs"])
def test_strict_refuses_a_plain_http_jwks_url(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, url: str
) -> None:
    config = variant(tmp_path, url)
    code, _, err = run(capsys, "check", "--config", str(config))
    assert code == 0
    assert err == f"warning: {config}:8: identity.issuers[0].jwks_url: fetched without TLS; use https://\n"
    code, _, err = run(capsys, "check", "--strict", "--config", str(config))
    assert code == 1
    assert "jwks_url: fetched without TLS" in err


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/certs", "http://localhost/certs", "http://[::1]:9000/certs", "https://x/c"]
)
def test_loopback_and_https_pass_strict(capsys: pytest.CaptureFixture[str], tmp_path: Path, url: str) -> None:
    code, _, err = run(capsys, "check", "--strict", "--config", str(variant(tmp_path, url)))
    assert (code, err) == (0, "")
