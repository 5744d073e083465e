"""crm-gateway check reports each ``allow_parameters`` name as a weakening of the positive request model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.unit.commands.test_cmd_check import ENV, FIXTURES, run


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


def test_allow_parameters_is_reported_and_fails_strict(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    shutil.copytree(FIXTURES, tmp_path / "fixtures")
    config = tmp_path / "fixtures" / "ok.yaml"
    lines = config.read_text().splitlines()
    assert lines[10].strip() == "dialect: civicrm" and lines[15].strip() == "dialect: espocrm"
    lines.insert(16, "    options: {allow_parameters: [nocache]}")
    lines.insert(11, "    options: {allow_parameters: [_, trace]}")
    config.write_text("\n".join(lines) + "\n")
    code, _, err = run(capsys, "check", "--config", str(config))
    assert code == 0, err
    expected = [
        f"warning: {config}:12: upstreams.civi.options: allow_parameters lets '{name}' through unmodelled"
        " (weakens the positive model)"
        for name in ("_", "trace")
    ] + [
        f"warning: {config}:18: upstreams.espo.options: allow_parameters lets 'nocache' through unmodelled"
        " (weakens the positive model)"
    ]
    assert err.splitlines() == expected
    code, _, _ = run(capsys, "check", "--strict", "--config", str(config))
    assert code == 1
