"""The locks: requirements/dev.txt is what CI installs, requirements/runtime.txt what the Docker image
installs. Each must pin, with hashes, a version of every dependency it covers, inside the bounds
pyproject.toml sets, and the image must run the versions CI tested. Refresh both with `bash .ci/lock`."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "dev.txt"
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\]+)")


def _declared(*, extras: tuple[str, ...] | None = None) -> list[Requirement]:
    """The dependencies pyproject.toml names: all of them, or the runtime ones plus ``extras``."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = list(project["dependencies"])
    for extra, listed in project["optional-dependencies"].items():
        if extras is None or extra in extras:
            names.extend(listed)
    return [Requirement(name) for name in names]


def _entries(lock: Path = LOCK) -> list[tuple[str, str, list[str]]]:
    """(name, version, hashes) for each pinned package, as pip reads the file."""
    entries: list[tuple[str, str, list[str]]] = []
    for block in re.split(r"\n(?=[A-Za-z0-9])", lock.read_text()):
        match = PIN.match(block)
        if match:
            hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
            entries.append((canonicalize_name(match.group(1)), match.group(2), hashes))
    return entries


def _pins(lock: Path = LOCK) -> dict[str, str]:
    return {name: version for name, version, _ in _entries(lock)}


def test_every_declared_dependency_is_pinned_within_its_bounds() -> None:
    pins = _pins()
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        if name == canonicalize_name("crm-auth-gateway"):
            continue
        assert name in pins, f"{requirement.name} is in pyproject.toml but not in the lock: bash .ci/lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"lock pins {name}=={pins[name]}, outside pyproject.toml's {requirement}: bash .ci/lock"
        )


def test_every_pin_is_exact_and_hash_checked() -> None:
    entries = _entries()
    assert len(entries) > 20
    for name, _version, hashes in entries:
        assert hashes, f"{name} has no hash in the lock"
    text = LOCK.read_text()
    assert " @ " not in text, "a direct reference (path or URL) cannot be hash-checked"
    assert "--index-url" not in text and "--find-links" not in text


def test_the_project_itself_is_not_in_the_lock() -> None:
    assert "crm-auth-gateway" not in _pins()


@pytest.mark.parametrize("floor", ["aiohttp", "pyjwt", "cryptography"])
def test_security_floors_are_declared(floor: str) -> None:
    declared = {str(canonicalize_name(r.name)): r for r in _declared()}
    assert declared[floor].specifier, f"{floor} needs a lower bound (security floor)"


def test_the_runtime_lock_pins_what_the_image_needs_with_hashes() -> None:
    pins = _pins(RUNTIME_LOCK)
    for requirement in _declared(extras=("speed",)):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is a runtime dependency but not in requirements/runtime.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True)
    for pinned, _version, hashes in _entries(RUNTIME_LOCK):
        assert hashes, f"{pinned} has no hash in requirements/runtime.txt"
    text = RUNTIME_LOCK.read_text()
    assert " @ " not in text and "--index-url" not in text and "--find-links" not in text


def test_the_runtime_lock_holds_only_versions_ci_tests() -> None:
    tested = _pins()
    for name, version in _pins(RUNTIME_LOCK).items():
        assert tested.get(name) == version, (
            f"the image would run {name}=={version}, CI tests {name}=={tested.get(name)}: bash .ci/lock"
        )
    assert "pytest" not in _pins(RUNTIME_LOCK), "test tools stay out of the image"
