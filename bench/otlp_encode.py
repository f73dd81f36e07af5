"""In-process costs of records -> OTLP traces, its compression and the metrics aggregation, per
record (no I/O).

Run: ``.venv/bin/python -m bench.otlp_encode`` (best of 15 runs on the bench's 100 Sigil
generations, ``bench/payloads.py``, decoded to records). Prints a markdown table; run it in a
worktree of another commit, with the same interpreter, to compare two versions.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from typing import Any

import zstandard

from bench import payloads
from bench.micro import BATCH, best_us
from gateway.cli import tune_gc
from gateway.formats import sigil
from gateway.formats.otlp import encode_traces_json, records_to_traces
from gateway.formats.otlp.encode_metrics import MetricsAggregator
from gateway.model import Record


def _records() -> list[Record]:
    body = payloads.request_body(0, BATCH)
    return [r for r in sigil.decode_generations_json(body) if not isinstance(r, sigil.ItemError)]


def main() -> None:
    tune_gc()
    records = _records()
    assert len(records) == BATCH

    def traces() -> Any:
        return records_to_traces(records, resource_attributes={}, include_content=True)

    def traces_oi() -> Any:
        return records_to_traces(
            records, resource_attributes={}, include_content=True, conventions=("gen_ai", "openinference")
        )

    request = traces()
    data = request.SerializeToString()
    aggregator = MetricsAggregator("cumulative")
    rows: list[tuple[str, Callable[[], Any]]] = [
        ("records → ExportTraceServiceRequest (`records_to_traces`)", traces),
        ("records → serialized request", lambda: traces().SerializeToString()),
        ("request → bytes (`SerializeToString`)", request.SerializeToString),
        ("records → serialized request, gen_ai + openinference", lambda: traces_oi().SerializeToString()),
        ("request → OTLP/JSON (`encode_traces_json`)", lambda: encode_traces_json(request)),
        ("gzip level 6 (`gzip.compress`)", lambda: gzip.compress(data, compresslevel=6, mtime=0)),
        ("gzip level 1 (`gzip.compress`)", lambda: gzip.compress(data, compresslevel=1, mtime=0)),
        ("zlib level 6, gzip framing (`zlib.compressobj`)", lambda: _gzip(data, 6)),
        ("zlib level 1, gzip framing (`zlib.compressobj`)", lambda: _gzip(data, 1)),
        ("zstd level 3 (`zstandard`)", lambda: zstandard.ZstdCompressor(level=3).compress(data)),
        ("zstd level 1 (`zstandard`)", lambda: zstandard.ZstdCompressor(level=1).compress(data)),
        ("metrics (`MetricsAggregator.add`)", lambda: aggregator.add(records)),
    ]
    print(f"serialized request: {len(data) / BATCH:.0f} B/record")
    print("| step, 100 Sigil generations | µs per record |\n|---|---|")
    for name, fn in rows:
        print(f"| {name} | {best_us(fn):.1f} |")


def _gzip(data: bytes, level: int) -> bytes:
    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


if __name__ == "__main__":
    main()
