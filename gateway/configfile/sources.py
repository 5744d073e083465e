"""What loading a config read, recorded as it was read: each file's digest, and each policy directory's
listing. A reload compares them with the files as they are now: equal means it would build the same
config (a running process's environment does not change). Nothing else parses the config for this.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

SourceKind = Literal["file", "dir"]


@dataclass(frozen=True, slots=True)
class Source:
    path: str
    kind: SourceKind
    digest: str
    inode: tuple[int, int] | None
    """(device, inode) when read: a file replaced by a rename has another, one written in place not."""


_READ: ContextVar[dict[str, Source] | None] = ContextVar("config_sources", default=None)


@contextlib.contextmanager
def recording() -> Iterator[dict[str, Source]]:
    """Collect what the loaders read inside the block (path -> Source, in reading order)."""
    read: dict[str, Source] = {}
    token = _READ.set(read)
    try:
        yield read
    finally:
        _READ.reset(token)


def read_file(path: Path) -> bytes:
    """The file's bytes (OSError as ``Path.read_bytes``), recorded when a load is recording."""
    data = path.read_bytes()
    _note(path, "file", data)
    return data


def policy_listing(directory: Path) -> list[Path]:
    """The ``*.yaml``/``*.yml`` files of a policy directory, sorted; the listing is recorded."""
    found = sorted({*directory.glob("*.yaml"), *directory.glob("*.yml")})
    _note(directory, "dir", _listing_bytes(found))
    return found


def _listing_bytes(found: Iterable[Path]) -> bytes:
    return "\n".join(p.name for p in found).encode()


def _note(path: Path, kind: SourceKind, data: bytes) -> None:
    read = _READ.get()
    if read is not None:
        read[str(path)] = Source(str(path), kind, _digest(data), _inode(path))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def current_digest(source: Source) -> str:
    """What the source holds now, digested like when it was read (an unreadable one by its error)."""
    path = Path(source.path)
    try:
        if source.kind == "dir":
            return _digest(_listing_bytes(sorted({*path.glob("*.yaml"), *path.glob("*.yml")})))
        return _digest(path.read_bytes())
    except OSError as exc:
        return f"unreadable: errno {exc.errno}"


def state(sources: Iterable[Source]) -> tuple[str, ...]:
    """The sources' current digests: compare two states to see whether a writer is still busy."""
    return tuple(current_digest(s) for s in sources)


def changed(sources: Iterable[Source]) -> bool:
    """Whether loading again would read something else than what these sources recorded."""
    return any(current_digest(s) != s.digest for s in sources)


def replaced(sources: Iterable[Source]) -> bool:
    """Whether a source is now another file than the one read (a rename, a ConfigMap symlink swap)."""
    return any(s.inode is not None and _inode(Path(s.path)) not in (None, s.inode) for s in sources)
