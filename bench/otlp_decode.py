"""In-process cost of reading OTLP traces into records, per span (no I/O).

``python -m bench.otlp_decode`` times each step on the bench's 100 generations as GenAI spans
(``records_to_traces`` with content, 24 attributes a span), and the pass-through's check of the
same request (no records), best of 15 runs of
:func:`bench.micro.best_us`, and prints a markdown table. Run it in a worktree of another commit,
with the same interpreter, to compare two versions.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from typing import Any

from bench import payloads
from bench.micro import BATCH, best_us
from gateway.cli import tune_gc
from gateway.formats import otlp
from gateway.formats import sigil as sf
from gateway.model import Record

NON_GENAI = 100  # plain spans (a database call) beside the GenAI ones in the mixed body


def main() -> None:
    tune_gc()
    generations = sf.decode_generations_json(payloads.request_body(0, BATCH))
    records = [r for r in generations if not isinstance(r, sf.ItemError)]
    body = otlp.records_to_traces(records, resource_attributes={}, include_content=True).SerializeToString()
    request = otlp.decode_traces_protobuf(body)
    mixed = otlp.decode_traces_protobuf(payloads.otlp_body(0, BATCH, non_genai=NON_GENAI))
    spans = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    assert spans == BATCH
    rows: list[tuple[str, Callable[[], Any], int]] = [
        ("protobuf bytes → request (upb)", lambda: otlp.decode_traces_protobuf(body), BATCH),
        ("request → records (`traces_to_records`)", lambda: otlp.traces_to_records(request), BATCH),
        ("protobuf bytes → records", lambda: otlp.traces_to_records(otlp.decode_traces_protobuf(body)), BATCH),
        (
            f"mixed request ({BATCH} GenAI + {NON_GENAI} other spans) → records, others dropped",
            lambda: otlp.traces_to_records(mixed),
            BATCH + NON_GENAI,
        ),
        (
            "mixed request → records, others passed through",
            lambda: otlp.traces_to_records(mixed, passthrough=True),
            BATCH + NON_GENAI,
        ),
    ]
    # The OTLP -> OTLP pass-through reads no records: it checks the spans are canonical. (Absent
    # before the pass-through: the script also runs in older checkouts.)
    if importlib.util.find_spec("gateway.formats.otlp.native") is not None:
        native = importlib.import_module("gateway.formats.otlp.native")
        rows.append(("request → pass-through check (`native.survey`)", lambda: native.survey(request, body), BATCH))
        mixed_body = mixed.SerializeToString()
        if native.survey(mixed, mixed_body, passthrough=True) is not None:  # newer: pass-through spans taken
            rows.append(
                (
                    "mixed request → pass-through check, others passed through",
                    lambda: native.survey(mixed, mixed_body, passthrough=True),
                    BATCH + NON_GENAI,
                )
            )
    if importlib.util.find_spec("gateway.formats.otlp.native_metrics") is not None:
        canonical = importlib.import_module("gateway.formats.otlp.canonical")
        native_metrics = importlib.import_module("gateway.formats.otlp.native_metrics")
        encode_metrics = importlib.import_module("gateway.formats.otlp.encode_metrics")
        traces = native.OtlpTraces.of(request, BATCH, body)
        points = native_metrics.points(traces)
        aggregator = encode_metrics.MetricsAggregator("delta")
        rows += [
            ("the check's view of the request (`canonical.view`)", lambda: canonical.view(body), BATCH),
            (
                "metrics points of the spans as they are (`native_metrics.points`)",
                lambda: native_metrics.points(traces),
                BATCH,
            ),
            ("aggregating them (`MetricsAggregator.add_points`)", lambda: aggregator.add_points(points), BATCH),
        ]
    rows.append(("`Record()`, the constructor every reader calls (per record)", Record, 1))
    print("| step | µs per span |\n|---|---|")
    for name, fn, per in rows:
        print(f"| {name} | {best_us(fn, per=per):.1f} |")


if __name__ == "__main__":
    main()
