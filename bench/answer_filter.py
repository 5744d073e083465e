"""python -m bench.answer_filter [--sizes 1024,262144,10485760] [--repeat N] [--json FILE]

What the answer guard costs per answer, in process: CPU seconds (median of N) and peak traced memory for
a CiviCRM-shaped JSON answer (records with ``api_key``, dotted join keys and a credential echo) of each
size, through each path an answer can take (gateway/answers/relay.py):

- ``filter``: buffered, credential guard + field filter (what a CiviCRM answer goes through);
- ``filter-gzip``: the same answer gzip-compressed by the CRM, decoded first;
- ``stream``: streamed in 64 KiB chunks through the credential guard's rolling window only (an answer no
  field rule applies to).
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

from gateway.answers.encoding import decoder_for
from gateway.answers.fields import FieldFilter
from gateway.answers.guard import CredentialGuard
from gateway.dialects.civicrm.answers import answer_fields

SECRETS = ("sandbox-site-key-0123456789", "civi-contact-42-api-key", "Bearer civi-contact-42-api-key")
SIZES = (1024, 256 * 1024, 10 * 1024 * 1024)
CHUNK = 64 * 1024


def _record(n: int) -> dict[str, Any]:
    return {
        "id": n,
        "display_name": f"Contact {n}",
        "api_key": f"key-{n:08d}",
        "contact_id.api_key": f"key-{n:08d}",
        "email_primary.email": f"c{n}@example.org",
        "note": "see ?key=sandbox-site-key-0123456789" if n % 50 == 0 else "",
    }


def answer(size: int) -> bytes:
    """A v4-style answer of at least ``size`` bytes: records with sensitive and joined keys."""
    per_record = len(json.dumps(_record(10**6))) + 2
    count = max(1, size // per_record)
    while True:
        body = json.dumps({"values": [_record(n) for n in range(count)], "count": count}).encode()
        if len(body) >= size:
            return body
        count += max(1, (size - len(body)) // per_record + 1)


def _filter(guard: CredentialGuard, fields: FieldFilter, body: bytes) -> bytes:
    return fields.apply(guard.body(body), "application/json")


def _filter_gzip(guard: CredentialGuard, fields: FieldFilter, body: bytes) -> bytes:
    decoder = decoder_for("gzip")
    pieces = [p for i in range(0, len(body), CHUNK) for p in decoder.feed(body[i : i + CHUNK])]
    return _filter(guard, fields, b"".join([*pieces, *decoder.close()]))


def _stream(guard: CredentialGuard, fields: FieldFilter, body: bytes) -> bytes:
    scrubber = guard.stream()
    sent = 0
    for i in range(0, len(body), CHUNK):
        sent += len(scrubber.feed(body[i : i + CHUNK]))
    sent += len(scrubber.close())
    assert sent > 0
    return b""


PATHS: dict[str, tuple[Callable[[CredentialGuard, FieldFilter, bytes], bytes], bool]] = {
    "filter": (_filter, False),
    "filter-gzip": (_filter_gzip, True),
    "stream": (_stream, False),
}


def measure(size: int, repeat: int) -> list[dict[str, Any]]:
    raw = answer(size)
    squeezed = gzip.compress(raw, 6)
    rows = []
    for name, (run, compressed) in PATHS.items():
        body = squeezed if compressed else raw
        guard = CredentialGuard(SECRETS)
        fields = FieldFilter(frozenset({"api_key"}), answer_fields)
        cpu: list[float] = []
        for _ in range(repeat):
            started = time.process_time()
            out = run(guard, fields, body)
            cpu.append(time.process_time() - started)
        if name != "stream":
            assert b"api_key" not in out and b"sandbox-site-key" not in out, "the filter let a field through"
        tracemalloc.start()
        tracemalloc.reset_peak()
        run(guard, fields, body)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rows.append(
            {
                "path": name,
                "answer_bytes": len(raw),
                "cpu_ms": round(statistics.median(cpu) * 1000, 3),
                "mb_per_s": round(len(raw) / max(statistics.median(cpu), 1e-9) / 1e6, 1),
                "peak_kib": round(peak / 1024),
                "peak_x_answer": round(peak / len(raw), 2),
            }
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)
    rows = [row for size in (int(s) for s in args.sizes.split(",")) for row in measure(size, args.repeat)]
    print(f"{'path':<12} {'answer':>10} {'cpu ms':>9} {'MB/s':>7} {'peak KiB':>9} {'peak/answer':>11}")
    for r in rows:
        print(
            f"{r['path']:<12} {r['answer_bytes']:>10} {r['cpu_ms']:>9} {r['mb_per_s']:>7} "
            f"{r['peak_kib']:>9} {r['peak_x_answer']:>11}"
        )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"python": sys.version.split()[0], "rows": rows}, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
