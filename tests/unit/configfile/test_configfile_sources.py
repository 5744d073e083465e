"""config.sources: what loading the config read, as it read it. A change to any of it is seen; anything
else (a touched mtime, a non-policy file beside the policies) is not. A replaced file is told apart
from one written in place."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.config.loader import load_config
from gateway.configfile.sources import changed, replaced

CONFIG = """identity:
  issuers:
    - {issuer: https://idp.test, audiences: [gw], algorithms: [HS256],
       hs256_secrets: ['${file:secrets/hs.key}']}
upstreams:
  espo: {dialect: espocrm, url: http://127.0.0.1:9, match: {path_prefix: /espo}, auth: {scheme: espo-apikey}}
identities:
  - match: {sub: svc}
    espo: {api_key: '${file:secrets/espo.key}'}
policies: [policies/, extra/one.yaml]
"""
POLICY = "policy: {name}\\nsubjects: {{principals: [svc]}}\\nentities:\\n  Lead: {{read: allow}}\\n"


def policy(name: str) -> str:
    return POLICY.replace("\\n", "\n").format(name=name)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for name in ("policies", "extra", "secrets"):
        (tmp_path / name).mkdir()
    (tmp_path / "gateway.yaml").write_text(CONFIG)
    (tmp_path / "policies" / "a.yaml").write_text(policy("a"))
    (tmp_path / "extra" / "one.yaml").write_text(policy("one"))
    (tmp_path / "secrets" / "espo.key").write_text("key-1\n")
    (tmp_path / "secrets" / "hs.key").write_text("an-hs256-secret-that-is-long-enough-0123456789\n")
    return tmp_path


def touch(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))


def replace(path: Path, text: str) -> None:
    staged = path.with_name(path.name + ".new")
    staged.write_text(text)
    os.replace(staged, path)


CHANGES: list[tuple[str, Callable[[Path], object]]] = [
    ("config edited", lambda r: (r / "gateway.yaml").write_text(CONFIG + "# note\n")),
    ("policy edited", lambda r: (r / "policies" / "a.yaml").write_text(policy("a2"))),
    ("policy added to a directory", lambda r: (r / "policies" / "b.yml").write_text(policy("b"))),
    ("policy removed", lambda r: (r / "policies" / "a.yaml").unlink()),
    ("policy named directly edited", lambda r: (r / "extra" / "one.yaml").write_text(policy("1"))),
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


def test_the_sources_are_every_file_and_directory_the_load_read(root: Path) -> None:
    sources = load_config(root / "gateway.yaml").sources
    assert {(Path(s.path).relative_to(root).as_posix(), s.kind) for s in sources} == {
        ("gateway.yaml", "file"),
        ("secrets/hs.key", "file"),
        ("secrets/espo.key", "file"),
        ("policies", "dir"),
        ("policies/a.yaml", "file"),
        ("extra/one.yaml", "file"),
    }
    assert not changed(sources) and not replaced(sources)


@pytest.mark.parametrize(("case", "change"), CHANGES, ids=[c[0] for c in CHANGES])
def test_a_change_to_what_the_load_read_is_seen(
    root: Path, case: str, change: Callable[[Path], object]
) -> None:
    sources = load_config(root / "gateway.yaml").sources
    change(root)
    assert changed(sources)


@pytest.mark.parametrize(("case", "change"), NON_CHANGES, ids=[c[0] for c in NON_CHANGES])
def test_nothing_the_load_read_changed_is_not_a_change(
    root: Path, case: str, change: Callable[[Path], object]
) -> None:
    sources = load_config(root / "gateway.yaml").sources
    change(root)
    assert not changed(sources)


def test_a_replaced_file_is_told_apart_from_one_written_in_place(root: Path) -> None:
    sources = load_config(root / "gateway.yaml").sources
    (root / "policies" / "a.yaml").write_text(policy("in-place"))
    assert changed(sources) and not replaced(sources)
    replace(root / "policies" / "a.yaml", policy("renamed"))
    assert replaced(sources)


def test_a_config_built_from_text_has_no_sources(root: Path) -> None:
    from gateway.config.loader import load_config_text

    assert load_config_text((root / "gateway.yaml").read_text(), str(root / "gateway.yaml")).sources == ()
