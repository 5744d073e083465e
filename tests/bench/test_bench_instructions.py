"""bench.instructions reads the count of the dump it asked for, not the empty final file."""

from __future__ import annotations

from pathlib import Path

from bench.instructions import total_instructions


def test_the_dumped_count_is_read_and_the_empty_final_file_ignored(tmp_path: Path) -> None:
    out = tmp_path / "callgrind.out"
    out.write_text("version: 1\nevents: Ir\nsummary: 0\ntotals: 0\n")
    (tmp_path / "callgrind.out.1").write_text("version: 1\nevents: Ir\nfn=x\n1 5\ntotals: 845454511\n")
    (tmp_path / "other.out.1").write_text("totals: 999999999999\n")
    assert total_instructions(out) == 845454511
