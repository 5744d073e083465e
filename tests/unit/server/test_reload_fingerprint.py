"""config_fingerprint: what a reload would read. A change to any of it changes the digest; anything
else (a touched mtime, a non-policy file beside the policies) does not."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.reload import config_fingerprint

CONFIG = """identity: {issuers: []}
upstreams:
  espo: {api_key: '${file:secrets/espo.key}'}
policies: [policies/, extra/one.yaml]
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "policies").mkdir()
    (tmp_path / "extra").mkdir()
    (tmp_path / "secrets").mkdir()
    (tmp_path / "gateway.yaml").write_text(CONFIG)
    (tmp_path / "policies" / "a.yaml").write_text("policy: a\n")
    (tmp_path / "extra" / "one.yaml").write_text("policy: one\n")
    (tmp_path / "secrets" / "espo.key").write_text("key-1\n")
    return tmp_path


def touch(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))


CHANGES: list[tuple[str, Callable[[Path], object]]] = [
    ("config edited", lambda r: (r / "gateway.yaml").write_text(CONFIG + "# note\n")),
    ("policy edited", lambda r: (r / "policies" / "a.yaml").write_text("policy: a2\n")),
    ("policy added to a directory", lambda r: (r / "policies" / "b.yml").write_text("policy: b\n")),
    ("policy removed", lambda r: (r / "policies" / "a.yaml").unlink()),
    ("policy named directly edited", lambda r: (r / "extra" / "one.yaml").write_text("policy: 1\n")),
    ("secret file rotated", lambda r: (r / "secrets" / "espo.key").write_text("key-2\n")),
    ("secret file deleted", lambda r: (r / "secrets" / "espo.key").unlink()),
    ("config made unparseable", lambda r: (r / "gateway.yaml").write_text("policies: [\n")),
]
NON_CHANGES: list[tuple[str, Callable[[Path], object]]] = [
    ("config touched", lambda r: touch(r / "gateway.yaml")),
    ("policy touched", lambda r: touch(r / "policies" / "a.yaml")),
    ("secret rewritten with the same value", lambda r: (r / "secrets" / "espo.key").write_text("key-1\n")),
    ("a non-policy file in the policy directory", lambda r: (r / "policies" / "README.txt").write_text("x")),
    ("an unrelated file beside the config", lambda r: (r / "notes.yaml").write_text("x: 1\n")),
]


@pytest.mark.parametrize(("case", "change"), CHANGES, ids=[c[0] for c in CHANGES])
def test_a_change_to_what_a_load_reads_changes_the_fingerprint(
    root: Path, case: str, change: Callable[[Path], object]
) -> None:
    before = config_fingerprint(root / "gateway.yaml")
    change(root)
    assert config_fingerprint(root / "gateway.yaml") != before


@pytest.mark.parametrize(("case", "change"), NON_CHANGES, ids=[c[0] for c in NON_CHANGES])
def test_nothing_a_load_reads_changed_keeps_the_fingerprint(
    root: Path, case: str, change: Callable[[Path], object]
) -> None:
    before = config_fingerprint(root / "gateway.yaml")
    change(root)
    assert config_fingerprint(root / "gateway.yaml") == before


def test_the_fingerprint_is_stable_and_a_missing_config_has_one(root: Path) -> None:
    assert config_fingerprint(root / "gateway.yaml") == config_fingerprint(str(root / "gateway.yaml"))
    missing = root / "absent.yaml"
    assert config_fingerprint(missing) == config_fingerprint(missing)
    assert config_fingerprint(missing) != config_fingerprint(root / "gateway.yaml")
