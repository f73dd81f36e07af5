"""In-process costs of records -> OTLP traces, its compression and the metrics aggregation, per
record (no I/O).

Run: ``.venv/bin/python -m bench.otlp_encode`` (``bench.micro.best_us``: best of 15 runs, on the
bench's Sigil generations, ``bench/payloads.py``, decoded to records). Prints a markdown table;
run it in a checkout of another commit, with the same interpreter, to compare two versions (the
machine is shared and noisy: alternate the two a few times and keep the lowest figures).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from typing import Any

import zstandard

from bench import payloads
from bench.micro import BATCH, best_us
from gateway.cli import tune_gc
from gateway.formats import otlp, sigil
from gateway.formats.otlp.encode_metrics import MetricsAggregator
from gateway.model import Record


def _records(start: int = 0) -> list[Record]:
    body = payloads.request_body(start, BATCH)
    return [r for r in sigil.decode_generations_json(body) if not isinstance(r, sigil.ItemError)]


def main() -> None:
    tune_gc()
    records = _records()
    assert len(records) == BATCH
    # 1,000 distinct records: repeated values (model, provider) repeat, ids and texts do not, as
    # in production, so the writer's attribute cache is not flattered by one batch sent again.
    distinct = [_records(i * BATCH) for i in range(10)]
    to_bytes = getattr(otlp, "records_to_traces_bytes", None)  # absent before the hand framing

    def serialized(batch: list[Record], conventions: tuple[str, ...] = ("gen_ai",)) -> bytes:
        if to_bytes is not None:
            data: bytes = to_bytes(batch, resource_attributes={}, include_content=True, conventions=conventions)
            return data
        request = otlp.records_to_traces(batch, resource_attributes={}, include_content=True, conventions=conventions)
        return request.SerializeToString()

    request = otlp.records_to_traces(records, resource_attributes={}, include_content=True)
    data = serialized(records)
    assert data == request.SerializeToString()
    aggregator = MetricsAggregator("cumulative")
    rows: list[tuple[str, Callable[[], Any], int]] = [
        ("records → serialized ExportTraceServiceRequest", lambda: serialized(records), BATCH),
        ("the same, 1,000 distinct records", lambda: [serialized(batch) for batch in distinct], 10 * BATCH),
        (
            "records → ExportTraceServiceRequest message (`records_to_traces`)",
            lambda: otlp.records_to_traces(records, resource_attributes={}, include_content=True),
            BATCH,
        ),
        (
            "records → serialized, gen_ai + openinference",
            lambda: serialized(records, ("gen_ai", "openinference")),
            BATCH,
        ),
        ("request message → OTLP/JSON (`encode_traces_json`)", lambda: otlp.encode_traces_json(request), BATCH),
        ("gzip level 6 (`gzip.compress`)", lambda: gzip.compress(data, compresslevel=6, mtime=0), BATCH),
        ("gzip level 1 (`gzip.compress`)", lambda: gzip.compress(data, compresslevel=1, mtime=0), BATCH),
        ("zstd level 3 (`zstandard`)", lambda: zstandard.ZstdCompressor(level=3).compress(data), BATCH),
        ("zstd level 1 (`zstandard`)", lambda: zstandard.ZstdCompressor(level=1).compress(data), BATCH),
        ("metrics (`MetricsAggregator.add`)", lambda: aggregator.add(records), BATCH),
    ]
    sizes = {
        "none": len(data),
        "gzip 6": len(gzip.compress(data, compresslevel=6, mtime=0)),
        "gzip 1": len(gzip.compress(data, compresslevel=1, mtime=0)),
        "zstd 3": len(zstandard.ZstdCompressor(level=3).compress(data)),
        "zstd 1": len(zstandard.ZstdCompressor(level=1).compress(data)),
    }
    print("bytes per record: " + ", ".join(f"{name} {size / BATCH:,.0f}" for name, size in sizes.items()))
    print("| step, Sigil generations (bench/payloads.py) | µs per record |\n|---|---|")
    for name, fn, per in rows:
        print(f"| {name} | {best_us(fn, per=per):.1f} |")


if __name__ == "__main__":
    main()
