"""In-process costs of the Sigil translations and of pricing, per generation (no I/O).

``python -m bench.micro`` times each step on the bench's 100-generation body, best of 15 runs
(the machine is noisy; the best run is the least disturbed one), record path against the
pass-through (``gateway.formats.sigil.native``). docs/benchmarks.md quotes its output.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from bench import payloads
from gateway.cli import tune_gc
from gateway.formats import sigil
from gateway.formats.pricing import PriceTable, _calc, genai_usage
from gateway.formats.sigil import native as sn
from gateway.formats.sigil.targets import DEFAULT_SCHEMA, SCHEMAS
from gateway.model import Usage

BATCH = 100


def best_us(fn: Callable[[], Any], per: int = BATCH, loops: int = 20, runs: int = 15) -> float:
    """Microseconds per item of ``fn`` (which handles ``per`` items), best of ``runs``."""
    fn()
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        best = min(best, (time.perf_counter() - start) / loops)
    return best * 1e6 / per


def protojson_to_grpc(body: bytes) -> bytes:
    """The format work of the `Sigil HTTP JSON → Sigil gRPC` row per request: the pass-through
    decode, fitting to the default target, the request bytes and the receiver's 202 body."""
    items = sn.decode_generations_json_native(body)
    assert items is not None
    accepted = [g for g in items if not isinstance(g, sigil.ItemError)]
    native = sn.SigilGenerations(accepted, fittable=items.fittable).fitted(SCHEMAS[DEFAULT_SCHEMA])
    sigil.encode_generations_response_json(sigil.export_results(items))
    return sn.frame_request([m.SerializeToString() for m in native.messages])


def main() -> None:
    tune_gc()
    body = payloads.request_body(0, BATCH)
    camel = orjson.dumps(payloads.lower_camel(orjson.loads(body)))
    records = [r for r in sigil.decode_generations_json(body) if not isinstance(r, sigil.ItemError)]
    native = sn.SigilGenerations(
        [g for g in sn.decode_generations_json_native(body) or [] if not isinstance(g, sigil.ItemError)]
    )
    grpc_body = native.request_bytes()
    table, usage = PriceTable(), Usage(input_tokens=812, output_tokens=143, cache_read_input_tokens=512)
    found = table.lookup("openai", "gpt-4o")
    assert found is not None and len(native) == BATCH
    rows: list[tuple[str, Callable[[], Any]]] = [
        ("protojson → records", lambda: sigil.decode_generations_json(body)),
        ("protojson → messages (pass-through)", lambda: sn.decode_generations_json_native(body)),
        ("protojson → gRPC bytes + 202 body (the HTTP JSON → gRPC row's format work)", lambda: protojson_to_grpc(body)),
        ("lowerCamel protojson → messages", lambda: sn.decode_generations_json_native(camel)),
        ("gRPC bytes → records", lambda: sigil.decode_generations_grpc(grpc_body)),
        ("gRPC bytes → messages (pass-through)", lambda: sn.decode_generations_grpc_native(grpc_body)),
        ("records → gRPC request bytes", lambda: sigil.generations_request(records).SerializeToString()),
        ("records → gRPC items, framed (the exporter)", lambda: sn.frame_request(sigil.generation_items(records))),
        ("messages → gRPC request bytes", native.request_bytes),
        ("records → protojson", lambda: sigil.encode_generations_json(records)),
        ("messages → protojson", native.request_json),
        ("messages → records", native.materialize),
    ]
    print("| step | µs per generation |\n|---|---|")
    for name, fn in rows:
        print(f"| {name} | {best_us(fn):.1f} |")
    genai = genai_usage(usage)
    assert genai is not None
    price_rows: list[tuple[str, Callable[[], Any]]] = [
        ("genai-prices calc_price", lambda: _calc(found[0], found[1], genai, None)),
        ("PriceTable.price (linear rates)", lambda: table.price("openai", "gpt-4o", usage)),
    ]
    for name, fn in price_rows:
        print(f"| {name} (per call) | {best_us(fn, per=1, loops=200):.1f} |")


if __name__ == "__main__":
    main()
