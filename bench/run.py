"""End-to-end benchmark: a load generator drives a gateway process; figures go to docs/benchmarks.md.

Run: ``.venv/bin/python -m bench.run [--duration 10] [--write]``

Scenario "Sigil HTTP JSON → Sigil gRPC": the gateway (pinned to CPU 0) receives protojson
batches of 100 generations (~1.8 KB each) on its sigil receiver and forwards them with the sigil
exporter over gRPC to a counting sink; the load generator and the sink share the other core.

* throughput: many connections post as fast as the gateway answers; generations/s is what the
  sink received end to end, divided by the time until it caught up;
* latency: requests at a fixed rate of half that throughput; p50/p99 of the request round trip;
* peak RSS: the gateway process's VmHWM at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import aiohttp
import yaml

from bench.payloads import request_body

ROOT = pathlib.Path(__file__).resolve().parent.parent
BATCH = 100
BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"


@dataclass
class Result:
    scenario: str
    gens_per_s: float
    p50_ms: float
    p99_ms: float
    latency_rate: float
    peak_rss_mb: float


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


def _peak_rss_mb(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def _processes(tmp: str) -> Iterator[tuple[subprocess.Popen[bytes], int, int]]:
    """Starts the sink and the gateway; yields (gateway process, gateway port, sink http port)."""
    port_file = os.path.join(tmp, "sink.ports")
    sink = subprocess.Popen([sys.executable, "-m", "bench.sink", "--port-file", port_file], cwd=ROOT)
    gateway: subprocess.Popen[bytes] | None = None
    try:
        grpc_port, http_port = (int(p) for p in _wait_file(port_file).split())
        cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else {0}
        other = (cpus - {0}) or cpus
        _pin(sink.pid, other)
        _pin(os.getpid(), other)
        port = _free_port()
        cfg = {
            "receivers": {"sigil": {"http": {"endpoint": f"127.0.0.1:{port}"}, "grpc": None}},
            "exporters": {
                "sigil": {
                    "endpoint": f"http://127.0.0.1:{grpc_port}",
                    "protocol": "grpc",
                    "sending_queue": {"queue_size": 200, "num_consumers": 4},
                }
            },
            "service": {"pipelines": {"p": {"receivers": ["sigil"], "exporters": ["sigil"]}}},
        }
        cfg_path = os.path.join(tmp, "gateway.yaml")
        pathlib.Path(cfg_path).write_text(yaml.safe_dump(cfg))
        gateway = subprocess.Popen(
            [sys.executable, "-m", "gateway", "run", "--config", cfg_path, "--log-level", "warning"], cwd=ROOT
        )
        _pin(gateway.pid, {0})
        yield gateway, port, http_port
    finally:
        for p in (gateway, sink):
            if p is not None:
                p.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(10)


async def _wait_ready(session: aiohttp.ClientSession, url: str) -> None:
    for _ in range(200):
        with contextlib.suppress(aiohttp.ClientError):
            async with session.post(url, data=b"{}") as resp:
                if resp.status == 202:
                    return
        await asyncio.sleep(0.05)
    raise TimeoutError("gateway did not come up")


async def _sink_count(session: aiohttp.ClientSession, sink_port: int) -> int:
    async with session.get(f"http://127.0.0.1:{sink_port}/count") as resp:
        count: int = (await resp.json())["count"]
        return count


async def _throughput(url: str, sink_port: int, duration: float, connections: int) -> float:
    bodies = [request_body(i * BATCH, BATCH) for i in range(50)]
    sent = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:
        await _wait_ready(session, url)
        base = await _sink_count(session, sink_port)
        start = time.monotonic()
        stop_at = start + duration

        async def worker(k: int) -> None:
            nonlocal sent
            i = k
            while time.monotonic() < stop_at:
                async with session.post(url, data=bodies[i % len(bodies)]) as resp:
                    await resp.read()
                    if resp.status == 202:
                        sent += BATCH
                    else:
                        await asyncio.sleep(0.01)  # 429: the gateway sheds load
                i += connections

        await asyncio.gather(*(worker(k) for k in range(connections)))
        # End to end: wait until the sink has everything the gateway accepted.
        while await _sink_count(session, sink_port) - base < sent:
            if time.monotonic() - stop_at > 30:
                break
            await asyncio.sleep(0.02)
        elapsed = time.monotonic() - start
        return (await _sink_count(session, sink_port) - base) / elapsed


async def _latency(url: str, rate_gens: float, duration: float) -> tuple[float, float]:
    bodies = [request_body(i * BATCH, BATCH) for i in range(50)]
    interval = BATCH / rate_gens
    latencies: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:

        async def one(i: int) -> None:
            t0 = time.perf_counter()
            async with session.post(url, data=bodies[i % len(bodies)]) as resp:
                await resp.read()
            latencies.append(time.perf_counter() - t0)

        tasks = []
        start = time.perf_counter()
        i = 0
        while time.perf_counter() - start < duration:
            tasks.append(asyncio.create_task(one(i)))
            i += 1
            next_at = start + i * interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        await asyncio.gather(*tasks)
    qs = statistics.quantiles(latencies, n=100)
    return qs[49] * 1000, qs[98] * 1000


def run(duration: float, connections: int) -> Result:
    with tempfile.TemporaryDirectory() as tmp, _processes(tmp) as (gateway, port, sink_port):
        url = f"http://127.0.0.1:{port}/api/v1/generations:export"
        gps = asyncio.run(_throughput(url, sink_port, duration, connections))
        p50, p99 = asyncio.run(_latency(url, gps / 2, duration))
        rss = _peak_rss_mb(gateway.pid)
    return Result("Sigil HTTP JSON → Sigil gRPC", gps, p50, p99, gps / 2, rss)


def table(results: list[Result], command: str) -> str:
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores (gateway pinned to one core). Reproduce: `{command}`.",
        "",
        "| path | generations/s (1 core, end to end) | p50 latency | p99 latency | at offered load | peak RSS |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.scenario} | {r.gens_per_s:,.0f} | {r.p50_ms:.1f} ms | {r.p99_ms:.1f} ms "
            f"| {r.latency_rate:,.0f}/s | {r.peak_rss_mb:.0f} MB |"
        )
    return "\n".join(lines)


def write_doc(text: str) -> None:
    doc = ROOT / "docs" / "benchmarks.md"
    content = doc.read_text()
    head, _, rest = content.partition(BEGIN)
    _, _, tail = rest.partition(END)
    doc.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    result = run(args.duration, args.connections)
    command = f".venv/bin/python -m bench.run --duration {args.duration:g} --write"
    text = table([result], command)
    print(text)
    if args.write:
        write_doc(text)


if __name__ == "__main__":
    main()
