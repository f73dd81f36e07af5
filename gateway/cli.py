"""Command line: ``gateway run|validate|components|convert|replay``. The only module that exits."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
from importlib import resources

import orjson

from gateway import __version__
from gateway.config import GatewayConfig, load_file, load_text
from gateway.errors import ConfigError

log = logging.getLogger("gateway")


class _KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        line = f"ts={self.formatTime(record)} level={record.levelname.lower()} logger={record.name} msg={msg!r}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out).decode()


def setup_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else _KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def default_config_text() -> str:
    return resources.files("gateway").joinpath("default_config.yaml").read_text(encoding="utf-8")


def _load(path: str | None) -> GatewayConfig:
    return load_file(path) if path else load_text(default_config_text(), source="embedded default")


WORKER_ENV = "GATEWAY_WORKER"
GC_GEN0_THRESHOLD = 50_000


def tune_gc() -> None:
    """Every request allocates thousands of short-lived objects (records, parts, dicts) that die
    by reference counting; with the default thresholds the cyclic collector runs every 700
    allocations and rescans the long-lived modules each time. Freezing what start-up built and
    collecting young objects less often cuts that overhead without letting memory grow: cycles
    are still collected, just in larger steps."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 50, 100)


def _supervise(args: argparse.Namespace, workers: int) -> int:
    """Starts ``workers`` copies of this command sharing the listeners (SO_REUSEPORT), forwards
    SIGTERM/SIGINT to them, and exits with the worst exit code."""
    argv = [sys.executable, "-m", "gateway", "run"]
    if args.config:
        argv += ["--config", args.config]
    if args.log_level:
        argv += ["--log-level", args.log_level]
    children = [subprocess.Popen(argv, env={**os.environ, WORKER_ENV: str(i)}) for i in range(workers)]
    log.info("started %d worker processes: %s", workers, [c.pid for c in children])

    def forward(signum: int, frame: object) -> None:
        for c in children:
            if c.poll() is None:
                c.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [c.wait() for c in children]
    return max(codes)


def _cmd_validate(args: argparse.Namespace) -> int:
    from gateway.pipeline import build
    from gateway.telemetry import Telemetry

    try:
        cfg = _load(args.config)
        build(cfg, Telemetry())  # wiring and route conflicts; starts nothing
    except ConfigError as exc:
        print(f"{args.config or 'embedded default'}: {len(exc.problems)} problem(s):", file=sys.stderr)
        for p in exc.problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    print(f"{args.config or 'embedded default'}: valid")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    try:
        cfg = _load(args.config)
    except ConfigError as exc:
        for p in exc.problems:
            print(f"config: {p}", file=sys.stderr)
        return 1
    logs = cfg.service.telemetry.logs
    setup_logging(args.log_level or logs.level, logs.format)
    if not args.config:
        log.info("no --config given: running the embedded default (the same as config/default.yaml)")
    workers = args.workers or cfg.service.workers
    worker_env = os.environ.get(WORKER_ENV)
    if workers > 1 and worker_env is None:
        return _supervise(args, workers)
    from gateway.service import Service

    async def main() -> None:
        service = Service(cfg, worker=int(worker_env) if worker_env is not None else None)
        tune_gc()
        await service.run_until_signal()

    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux/macOS
        pass
    try:
        asyncio.run(main())
    except ConfigError as exc:
        for p in exc.problems:
            print(f"config: {p}", file=sys.stderr)
        return 1
    except OSError as exc:
        log.error("cannot start: %s", exc)
        return 1
    return 0


def _cmd_components(args: argparse.Namespace) -> int:
    from gateway.describe import describe, flatten
    from gateway.registry import factories

    for kind in ("receiver", "processor", "exporter"):
        found = factories(kind)
        print(f"{kind}s:")
        for type_, factory in sorted(found.items()):
            print(f"  {type_}: {factory.description}")
            for o in flatten(describe(factory.config_class)):
                doc = f"  # {o.doc}" if o.doc else ""
                print(f"    {o.name}: {o.type} = {o.default}{doc}")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from gateway.convert import convert, total_bytes

    try:
        total = total_bytes(args.input)
    except OSError as exc:
        print(f"convert: cannot read {args.input}: {exc.strerror}", file=sys.stderr)
        return 1
    console = Console(stderr=True)
    columns = (TextColumn("converting"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        task = progress.add_task("convert", total=total)
        try:
            summary = convert(
                args.source,
                args.target,
                args.input,
                args.output,
                progress=lambda n: progress.advance(task, n),
            )
        except OSError as exc:
            print(f"convert: {exc}", file=sys.stderr)
            return 1
    print(summary.text(), file=sys.stderr)
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    from gateway.replay import replay

    setup_logging(args.log_level or "info", "text")
    try:
        summary = asyncio.run(replay(_load(args.config), args.exporter, args.dead_letter))
    except ConfigError as exc:
        for p in exc.problems:
            print(f"replay: {p}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 1
    print(summary.text())
    return 0 if summary.failed == 0 else 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="Translating gateway for LLM telemetry.")
    parser.add_argument("--version", action="version", version=f"gateway {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the gateway (the embedded default without --config)")
    run.add_argument("--config", help="YAML config file")
    run.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="overrides the config")
    run.add_argument("--workers", type=int, help="worker processes sharing the listeners (overrides service.workers)")
    run.set_defaults(func=_cmd_run)
    val = sub.add_parser("validate", help="check a config: exit 0, or 1 listing every problem")
    val.add_argument("--config", help="YAML config file (the embedded default without it)")
    val.set_defaults(func=_cmd_validate)
    from gateway.convert import convertible

    readable, writable = convertible()
    conv = sub.add_parser("convert", help="translate recorded payloads between formats, offline")
    conv.add_argument("--from", dest="source", required=True, choices=readable)
    conv.add_argument("--to", dest="target", required=True, choices=writable)
    conv.add_argument("input", help="file or directory; one request body per line (.gz allowed)")
    conv.add_argument("output", help="file to write, one request body per line")
    conv.set_defaults(func=_cmd_convert)
    rep = sub.add_parser("replay", help="send an exporter's dead-letter entries again (exit 2 if some fail again)")
    rep.add_argument("--config", required=True, help="YAML config file (the fixed one)")
    rep.add_argument("--exporter", required=True, help="exporter id, e.g. sigil/cloud")
    rep.add_argument("--dead-letter", help="dead-letter file (default: the exporter's dead_letter.path)")
    rep.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="default info")
    rep.set_defaults(func=_cmd_replay)
    comp = sub.add_parser("components", help="list component types and their options")
    comp.set_defaults(func=_cmd_components)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code
