"""No module under gateway/ grows past LIMIT lines: modules of one concept each.

A module that outgrows the limit is split by concept (see docs/architecture.md), not let through by
raising the limit. EXCEPTIONS names a module that is one table or one concept too long to cut, with the
reason; none is needed today.
"""

from __future__ import annotations

from pathlib import Path

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"
LIMIT = 300
EXCEPTIONS: dict[str, str] = {}
"""Path under gateway/ -> why that module is one concept longer than LIMIT."""


def line_counts() -> dict[str, int]:
    return {
        path.relative_to(GATEWAY).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in sorted(GATEWAY.rglob("*.py"))
    }


def test_the_package_is_where_the_test_looks() -> None:
    counts = line_counts()
    assert "__init__.py" in counts and "admission.py" in counts
    assert len(counts) > 100


def test_no_module_is_over_the_limit() -> None:
    over = {path: lines for path, lines in line_counts().items() if lines > LIMIT and path not in EXCEPTIONS}
    assert over == {}, f"split these modules by concept (at most {LIMIT} lines each): {over}"


def test_every_exception_is_still_needed() -> None:
    counts = line_counts()
    stale = {path for path in EXCEPTIONS if counts.get(path, 0) <= LIMIT}
    assert stale == set(), f"no longer over {LIMIT} lines (or gone): drop them from EXCEPTIONS"
