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
    print("| step | µs per span |\n|---|---|")
    for name, fn, per in rows:
        print(f"| {name} | {best_us(fn, per=per):.1f} |")


if __name__ == "__main__":
    main()
