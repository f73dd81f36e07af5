"""In-process timings of the Foglamp and LumiqTrace codecs and of reserved-record filtering, one
core, no I/O: the figures docs/benchmarks.md quotes beside the end-to-end table.

Run: ``.venv/bin/python -m bench.codecs`` (best of 5 rounds of 300 batches of 100 records, the
``bench/payloads.py`` bodies). Run it in a worktree of another commit, with the same interpreter,
to compare two versions.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable

import orjson

from bench import payloads
from gateway import formats
from gateway.formats import foglamp as ff
from gateway.formats import lumiqtrace as lf
from gateway.formats.pricing import PriceTable
from gateway.model import Record

ROUNDS = 5
BATCHES = 300


def best_us(fn: Callable[[], object]) -> float:
    """The best round's time per call, in µs."""
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(BATCHES):
            fn()
        best = min(best, (time.perf_counter() - start) / BATCHES)
    return best * 1e6


def main() -> None:
    fbody = payloads.foglamp_body(0, 100)
    lbody = gzip.decompress(payloads.lumiq_body(0, 100))
    prices = PriceTable()
    from_foglamp = ff.decode_ingest(orjson.loads(fbody))
    from_lumiq = lf.decode_ndjson(lbody)
    plain = [Record(id=str(i)) for i in range(100)]
    rows: list[tuple[str, Callable[[], object]]] = [
        ("Foglamp decode (`decode_ingest`, with the zod checks)", lambda: ff.decode_ingest(orjson.loads(fbody))),
        (
            "LumiqTrace encode (`encode_events`, priced)",
            lambda: lf.encode_events(from_foglamp, environment_default="p", sdk_version="1", pricing=prices),
        ),
        ("LumiqTrace decode (`decode_ndjson`)", lambda: lf.decode_ndjson(lbody)),
        ("Foglamp encode (`encode_batches`)", lambda: ff.encode_batches(from_lumiq)),
    ]
    if hasattr(formats, "sendable"):  # absent before the format registry
        rows.append(
            ("`formats.sendable` (records another format reserved)", lambda: formats.sendable(plain, "foglamp"))
        )
    print("| codec, 100 records | µs |")
    print("|---|---|")
    for name, fn in rows:
        print(f"| {name} | {best_us(fn):,.0f} |")


if __name__ == "__main__":
    main()
