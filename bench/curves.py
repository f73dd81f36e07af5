"""Cost curves: how throughput, CPU and memory grow with record size, batch size and queue depth.

Run: ``.venv/bin/python -m bench.curves --write`` (needs the ``bench`` extra: matplotlib). It
drives a gateway process exactly as ``bench.run`` does (pinned to one core, load generator and
sink on the other) along three axes, prints the tables, and with ``--write`` draws
``docs/bench-size.png``, ``docs/bench-batch.png`` and ``docs/bench-queue.png`` and puts the
tables into ``docs/benchmarks.md`` between the ``curves`` markers:

* generation size: ~1 KB, 16 KB and 256 KB of prompt and output text per generation, 10 per
  request, Sigil HTTP JSON → Sigil gRPC (the content-heavy path) and Sigil gRPC → OTLP;
* batch size: 1, 10, 100 and 1,000 generations of ~1.8 KB per request, the same two paths;
* queue depth: a backend that accepts connections and never answers, so batches pile up in the
  exporter's sending queue; resident memory after 0, 100, 1,000 and 5,000 queued batches of 100.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import yaml

from bench import payloads, run

ROOT = pathlib.Path(__file__).resolve().parent.parent
BEGIN = "<!-- curves:begin -->"
END = "<!-- curves:end -->"
PATHS = [run.SCENARIOS[0], next(s for s in run.SCENARIOS if s.name == "Sigil gRPC → OTLP traces+metrics (gRPC)")]
SIZES = [(1024, "1 KB"), (16 * 1024, "16 KB"), (256 * 1024, "256 KB")]
BATCHES = [1, 10, 100, 1000]
DEPTHS = [0, 100, 1000, 5000]


def size_curve(duration: float) -> list[tuple[str, str, float, float, float]]:
    """(path, size, records/s, CPU ms per 1k, peak RSS MB) at 10 generations per request."""
    out = []
    run.BATCH, run.DISTINCT_BODIES = 10, 4
    try:
        for scenario in PATHS:
            for size, label in SIZES:
                payloads.CONTENT_BYTES = size
                r = run.run_scenario(scenario, duration, 16, 1)
                out.append((scenario.name, label, r.records_per_s, r.cpu_ms_per_1k, r.peak_rss_mb))
    finally:
        payloads.CONTENT_BYTES, run.BATCH, run.DISTINCT_BODIES = None, 100, 20
    return out


def batch_curve(duration: float) -> list[tuple[str, int, float, float, float]]:
    """(path, batch, records/s, CPU ms per 1k, peak RSS MB) with the default generations."""
    out = []
    try:
        for scenario in PATHS:
            for batch in BATCHES:
                run.BATCH, run.DISTINCT_BODIES = batch, max(2, min(20, 2000 // batch))
                r = run.run_scenario(scenario, duration, 16, 1)
                out.append((scenario.name, batch, r.records_per_s, r.cpu_ms_per_1k, r.peak_rss_mb))
    finally:
        run.BATCH, run.DISTINCT_BODIES = 100, 20
    return out


@contextlib.contextmanager
def _black_hole() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (a hung backend)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1024)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def _rss_mb(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def queue_curve() -> list[tuple[int, float]]:
    """(batches queued, resident MB) for a Sigil HTTP JSON → Sigil gRPC gateway whose backend hangs."""
    out = []
    with tempfile.TemporaryDirectory() as tmp, _black_hole() as dead:
        port = run._free_port()
        cfg = {
            "receivers": {"sigil": {"http": {"endpoint": f"127.0.0.1:{port}"}, "grpc": None}},
            "exporters": {
                "sigil": {
                    "endpoint": f"http://127.0.0.1:{dead}",
                    "timeout": "1h",
                    "sending_queue": {"queue_size": max(DEPTHS) + 10, "num_consumers": 1},
                }
            },
            "service": {"pipelines": {"p": {"receivers": ["sigil"], "exporters": ["sigil"]}}},
        }
        path = os.path.join(tmp, "gateway.yaml")
        pathlib.Path(path).write_text(yaml.safe_dump(cfg))
        gw = subprocess.Popen(
            [sys.executable, "-m", "gateway", "run", "--config", path, "--log-level", "error"], cwd=ROOT
        )
        try:

            async def fill() -> None:
                async with run._client("sigil-http", port, 16) as send:
                    await run._wait_ready(send)
                    sent = 1  # the readiness probe's batch
                    for depth in DEPTHS:
                        while sent < depth:
                            ok = await asyncio.gather(*(send(sent + k) for k in range(min(16, depth - sent))))
                            sent += sum(ok)
                        await asyncio.sleep(1.0)
                        out.append((depth, _rss_mb(gw.pid)))

            asyncio.run(fill())
        finally:
            gw.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                gw.wait(15)
    return out


def _plot(
    path: pathlib.Path,
    title: str,
    xlabel: str,
    series: dict[str, tuple[list[float], list[float]]],
    ylabel: str,
    logx: bool,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=100)
    for name, (xs, ys) in series.items():
        ax.plot(xs, ys, marker="o", label=name)
    if logx:
        ax.set_xscale("log")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per phase")
    parser.add_argument("--write", action="store_true", help="draw the PNGs and update docs/benchmarks.md")
    args = parser.parse_args()
    sizes = size_curve(args.duration)
    batches = batch_curve(args.duration)
    depths = queue_curve()
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')}; reproduce: "
        f"`.venv/bin/python -m bench.curves --duration {args.duration:g} --write`.",
        "",
        "| path | content per generation (10 per request) | records/s | CPU ms / 1k | peak RSS |",
        "|---|---|---|---|---|",
        *(f"| {p} | {s} | {rps:,.0f} | {cpu:.0f} | {rss:.0f} MB |" for p, s, rps, cpu, rss in sizes),
        "",
        "| path | generations per request | records/s | CPU ms / 1k | peak RSS |",
        "|---|---|---|---|---|",
        *(f"| {p} | {b:,} | {rps:,.0f} | {cpu:.0f} | {rss:.0f} MB |" for p, b, rps, cpu, rss in batches),
        "",
        "| batches of 100 queued (backend hung) | resident memory |",
        "|---|---|",
        *(f"| {d:,} | {mb:.0f} MB |" for d, mb in depths),
    ]
    text = "\n".join(lines)
    print(text)
    if not args.write:
        return
    docs = ROOT / "docs"
    size_x = [float(s) for s, _ in SIZES]
    _plot(
        docs / "bench-size.png",
        "CPU per 1k records against generation size (10 per request)",
        "content bytes per generation",
        {p.name: (size_x, [c for n, _, _, c, _ in sizes if n == p.name]) for p in PATHS},
        "CPU ms / 1k records",
        True,
    )
    _plot(
        docs / "bench-batch.png",
        "Throughput against batch size (~1.8 KB generations)",
        "generations per request",
        {p.name: ([float(b) for b in BATCHES], [r for n, _, r, _, _ in batches if n == p.name]) for p in PATHS},
        "records/s",
        True,
    )
    _plot(
        docs / "bench-queue.png",
        "Resident memory against sending-queue depth (batches of 100)",
        "batches queued",
        {"Sigil HTTP JSON → Sigil gRPC, backend hung": ([float(d) for d, _ in depths], [m for _, m in depths])},
        "RSS MB",
        False,
    )
    doc = docs / "benchmarks.md"
    content = doc.read_text()
    if BEGIN not in content:
        content += f"\n## Cost curves\n\n{BEGIN}\n{END}\n"
    head, _, rest = content.partition(BEGIN)
    _, _, tail = rest.partition(END)
    doc.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


if __name__ == "__main__":
    main()
