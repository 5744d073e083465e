"""`python -m bench.answer_filter` runs end to end on small answers and writes well-formed figures. No timing
is asserted; the measured paths really filter (the bench itself checks that)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.answer_filter import PATHS, answer

ROOT = Path(__file__).resolve().parents[2]


def test_generated_answers_have_the_asked_size_and_the_fields_to_filter() -> None:
    for size in (1024, 50_000):
        body = answer(size)
        assert size <= len(body) < size * 1.3
        assert b'"contact_id.api_key"' in body and b'"api_key"' in body


def test_smoke_run_writes_every_path_and_size(tmp_path: Path) -> None:
    out = tmp_path / "answers.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.answer_filter",
            "--sizes",
            "1024,70000",
            "--repeat",
            "1",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(out.read_text())["rows"]
    assert {(r["path"], r["answer_bytes"] >= 70000) for r in rows} == {
        (p, big) for p in PATHS for big in (False, True)
    }
    assert all(r["cpu_ms"] >= 0 and r["peak_kib"] >= 0 for r in rows)
    assert "filter-gzip" in done.stdout
