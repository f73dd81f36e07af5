"""What compressing OTLP export bodies costs the gateway, and whether it holds the event loop.

Sends the bench's generations as OTLP trace requests (``records_to_traces_bytes`` of 100
generations, ~230 KB) with the ``otlp`` exporter's own client (``gateway.exporters._otlp_client``)
to the bench sink (``bench.sink``, another process), one request at a time, for each transport
and compression: gzip and zstd at two levels, compressed on the event loop or in a worker thread,
and grpcio's own gzip on gRPC. Prints, per variant: client CPU per record (this process, all
threads; the sink's own CPU is not counted), the CPU compression adds over sending uncompressed,
bytes per record on the wire, and the event loop's worst delay seen by a 1 ms ticker while
sending (what a receiver on the same loop would wait; on a shared 2-core machine the thread
variants still see the OS schedule the sink and the compressing thread against the loop, although
zlib and zstandard release the GIL).

Run: ``.venv/bin/python -m bench.otlp_compress`` (about a minute; best of 3 rounds per variant).
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
import time

from bench import payloads
from bench.run import _sink
from gateway.cli import tune_gc
from gateway.exporters._otlp_client import OtlpClient, Protocol
from gateway.exporters._transport import TlsConfig
from gateway.formats import sigil
from gateway.formats.otlp import records_to_traces_bytes

BATCH = 100  # records per request, as bench.run's clients send them
REQUESTS = 20  # distinct requests per round
ROUNDS = 3


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    protocol: Protocol
    compression: str
    level: int = 0
    in_thread: bool = False


VARIANTS = [
    Variant("gRPC, none", "grpc", "none"),
    Variant("gRPC, grpcio gzip (C core)", "grpc", "gzip"),
    Variant("HTTP, none", "http/protobuf", "none"),
    Variant("HTTP, gzip 6 on the loop", "http/protobuf", "gzip", 6),
    Variant("HTTP, gzip 6 in a thread", "http/protobuf", "gzip", 6, True),
    Variant("HTTP, gzip 1 on the loop", "http/protobuf", "gzip", 1),
    Variant("HTTP, gzip 1 in a thread", "http/protobuf", "gzip", 1, True),
    Variant("HTTP, zstd 1 on the loop", "http/protobuf", "zstd", 1),
    Variant("HTTP, zstd 1 in a thread", "http/protobuf", "zstd", 1, True),
    Variant("HTTP, zstd 3 in a thread", "http/protobuf", "zstd", 3, True),
]


@dataclasses.dataclass
class Result:
    cpu_us: float  # client CPU per record
    wire_bytes: float  # per record
    max_lag_ms: float  # worst event-loop delay


def _bodies() -> list[bytes]:
    out = []
    for i in range(REQUESTS):
        body = payloads.request_body(i * BATCH, BATCH)
        records = [r for r in sigil.decode_generations_json(body) if not isinstance(r, sigil.ItemError)]
        out.append(records_to_traces_bytes(records, resource_attributes={}, include_content=True))
    return out


async def _round(variant: Variant, ports: tuple[int, int], bodies: list[bytes]) -> Result:
    port = ports[0] if variant.protocol == "grpc" else ports[1]
    client = OtlpClient(
        endpoint=f"http://127.0.0.1:{port}",
        protocol=variant.protocol,
        compression=variant.compression,  # type: ignore[arg-type]
        compression_level=variant.level,
        offload_min_bytes=0 if variant.in_thread else 1 << 62,
        headers={},
        tls=TlsConfig(),
        timeout=30.0,
        user_agent="bench",
    )
    await client.start()
    lag = 0.0
    done = False

    async def ticker() -> None:
        nonlocal lag
        while not done:
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            lag = max(lag, time.perf_counter() - start - 0.001)

    try:
        await client.export("traces", client.body(bodies[0]))  # connect, warm up
        tick = asyncio.create_task(ticker())
        await asyncio.sleep(0.01)
        lag, wire = 0.0, 0
        cpu = time.process_time()
        for data in bodies:
            body = client.body(data)
            await client.export("traces", body)
            wire += len(body.wire if body.wire is not None else body.data)
        cpu = time.process_time() - cpu
        done = True
        await tick
    finally:
        await client.close()
    records = len(bodies) * BATCH
    return Result(cpu * 1e6 / records, wire / records, lag * 1e3)


async def _main(ports: tuple[int, int]) -> None:
    bodies = _bodies()
    raw = sum(map(len, bodies)) / (len(bodies) * BATCH)
    best: dict[str, Result] = {}
    for _ in range(ROUNDS):
        for variant in VARIANTS:
            got = await _round(variant, ports, bodies)
            seen = best.get(variant.name)
            best[variant.name] = Result(
                min(got.cpu_us, seen.cpu_us) if seen else got.cpu_us,
                got.wire_bytes,
                min(got.max_lag_ms, seen.max_lag_ms) if seen else got.max_lag_ms,
            )
    print(f"{BATCH} generations per request, {raw:,.0f} B/record serialized, best of {ROUNDS} rounds\n")
    print("| transport, compression | client CPU µs/record | over none | B/record on the wire | worst loop delay ms |")
    print("|---|---|---|---|---|")
    for variant in VARIANTS:
        r = best[variant.name]
        base = best["gRPC, none" if variant.protocol == "grpc" else "HTTP, none"].cpu_us
        # grpcio compresses inside the call: its wire size is not visible here.
        wire = "(in grpcio)" if variant.protocol == "grpc" and variant.compression != "none" else f"{r.wire_bytes:,.0f}"
        print(f"| {variant.name} | {r.cpu_us:.1f} | {r.cpu_us - base:+.1f} | {wire} | {r.max_lag_ms:.1f} |")


def main() -> None:
    tune_gc()
    with tempfile.TemporaryDirectory() as tmp, _sink(tmp) as ports:
        asyncio.run(_main(ports))


if __name__ == "__main__":
    main()
