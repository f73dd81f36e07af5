"""Command line: ``gateway run|validate|components|convert|replay``. The only module that exits."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from importlib import resources

from gateway import __version__
from gateway.config import GatewayConfig, check, load, read_sources
from gateway.confmap import apply_set, parse_yaml
from gateway.errors import ConfigError
from gateway.telemetry import MULTIPROC_ENV

log = logging.getLogger("gateway")


def default_config_text() -> str:
    return resources.files("gateway").joinpath("default_config.yaml").read_text(encoding="utf-8")


def _raw(args: argparse.Namespace) -> object:
    """Every --config merged in order (or the embedded default), then every --set."""
    if args.config:
        return read_sources(args.config, args.set or [])
    raw = parse_yaml(default_config_text(), "embedded default")
    problems = []
    for assignment in args.set or []:
        try:
            raw = apply_set(raw, assignment)
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    return raw


def _load(args: argparse.Namespace) -> GatewayConfig:
    return load(_raw(args))


def _sources(args: argparse.Namespace) -> str:
    return ", ".join(args.config) if args.config else "embedded default"


def _config_argv(args: argparse.Namespace) -> list[str]:
    """The config options of this command line, for the worker processes."""
    out: list[str] = []
    for path in args.config or []:
        out += ["--config", path]
    for assignment in args.set or []:
        out += ["--set", assignment]
    return out


WORKER_ENV = "GATEWAY_WORKER"  # the worker number, in worker processes (gateway.health reads it too)
SUPERVISOR_ENV = "GATEWAY_SUPERVISOR"  # the supervisor's pid, in worker processes
GC_GEN0_THRESHOLD = 50_000
PR_SET_PDEATHSIG = 1  # linux/prctl.h


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
    SIGTERM/SIGINT/SIGHUP to them, and exits with the worst exit code. Workers die with it
    (:func:`die_with_parent`), even when it is killed with SIGKILL."""
    argv = [sys.executable, "-m", "gateway", "run", *_config_argv(args)]
    if args.log_level:
        argv += ["--log-level", args.log_level]
    # Every worker keeps its metric values in files here, so any of them can answer a scrape
    # with the series of all (gateway.telemetry); a fresh directory per run, removed at exit.
    metrics_dir = tempfile.mkdtemp(prefix="gateway-metrics-")
    env = {**os.environ, SUPERVISOR_ENV: str(os.getpid()), MULTIPROC_ENV: metrics_dir}
    children = [subprocess.Popen(argv, env={**env, WORKER_ENV: str(i)}) for i in range(workers)]
    log.info("started %d worker processes: %s", workers, [c.pid for c in children])

    def forward(signum: int, frame: object) -> None:
        if signum == signal.SIGHUP:
            log.info("received SIGHUP: passing it to the workers, which reload the config")
        for c in children:
            if c.poll() is None:
                c.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    try:
        codes = [c.wait() for c in children]
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return max(codes)


def die_with_parent(parent: int) -> None:
    """Makes this worker get SIGTERM (and drain) when its supervisor dies, however it dies
    (Linux ``PR_SET_PDEATHSIG``). Elsewhere workers outlive a killed supervisor."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    if os.getppid() != parent:  # the supervisor died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _cmd_validate(args: argparse.Namespace) -> int:
    """Every problem in one run: each file's YAML, every key of every component, the pipeline
    references, then what building the graph of the parts that decoded finds (route conflicts,
    durability). With --no-environment, references stay unresolved and the graph is not built
    (it would read the files the config names): syntax, types and references only."""
    from gateway.pipeline import build
    from gateway.telemetry import Telemetry

    try:
        raw = _raw(args)
    except ConfigError as exc:
        return _report(args, exc.problems, [])
    checked = check(raw, no_environment=args.no_environment)
    problems = list(checked.problems)
    if checked.config is not None and not args.no_environment:
        try:
            build(checked.config, Telemetry())  # wiring and route conflicts; starts nothing
        except ConfigError as exc:
            problems += [p for p in map(checked.expander.scrub, exc.problems) if p not in problems]
        except (OSError, ValueError) as exc:
            problems.append(checked.expander.scrub(str(exc)))
    return _report(args, problems, checked.warnings)


def _report(args: argparse.Namespace, problems: list[str], warnings: list[str]) -> int:
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    if problems:
        print(f"{_sources(args)}: {len(problems)} problem(s):", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    print(f"{_sources(args)}: valid")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    # SIGHUP before the event loop's handler is installed must not kill the process (its
    # default); it is remembered and the config re-read once running.
    hangups: list[int] = []
    signal.signal(signal.SIGHUP, lambda signum, frame: hangups.append(signum))
    try:
        cfg = _load(args)
    except ConfigError as exc:
        for p in exc.problems:
            print(f"config: {p}", file=sys.stderr)
        return 1
    from gateway import logs

    logs_cfg = cfg.service.telemetry.logs
    workers = args.workers or cfg.service.workers
    worker_env = os.environ.get(WORKER_ENV)
    supervising = workers > 1 and worker_env is None
    # The gRPC core writes to file descriptor 2 itself: a serving process reads it back and logs
    # it in the configured format (the supervisor does not: its workers inherit its stderr).
    stream = None if supervising else logs.capture_stderr()
    logs.setup(args.log_level or logs_cfg.level, logs_cfg.format, stream)
    if not args.config:
        log.info("no --config given: running the embedded default (the same as config/default.yaml)")
    for warning in cfg.warnings:
        log.warning("config: %s", warning)
    if supervising:
        return _supervise(args, workers)
    from gateway.service import Service

    supervisor = os.environ.get(SUPERVISOR_ENV)
    if worker_env is not None and supervisor is not None:
        die_with_parent(int(supervisor))

    async def main() -> None:
        service = Service(
            cfg, worker=int(worker_env) if worker_env is not None else None, config_source=lambda: _load(args)
        )

        def reloaded(new: GatewayConfig) -> None:  # the log level and format follow a reload
            logs.setup(args.log_level or new.service.telemetry.logs.level, new.service.telemetry.logs.format, stream)

        service.on_reload = reloaded
        tune_gc()
        await service.run_until_signal(hangup_pending=lambda: bool(hangups))

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


# `gateway convert` exit codes (docs/operations.md, "Converting").
CONVERT_OK = 0  # every line decoded and at least one record written
CONVERT_FAILED = 1  # could not run: unreadable input, unwritable or existing output
CONVERT_REJECTED = 3  # some lines or items could not be decoded (the rest was written)
CONVERT_NOTHING = 4  # no record written


def _cmd_convert(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from gateway.convert import STDIO, convert, total_bytes

    if args.output != STDIO and os.path.exists(args.output) and not args.force:
        print(f"convert: {args.output} exists; --force overwrites it", file=sys.stderr)
        return CONVERT_FAILED
    try:
        total = total_bytes(args.input)
    except OSError as exc:
        print(f"convert: cannot read {args.input}: {exc.strerror}", file=sys.stderr)
        return CONVERT_FAILED
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
            return CONVERT_FAILED
    print(summary.text(), file=sys.stderr)
    if summary.records_out == 0:
        return CONVERT_NOTHING
    if summary.bad_lines or summary.stats.rejected_items:
        return CONVERT_REJECTED
    return CONVERT_OK


def _cmd_replay(args: argparse.Namespace) -> int:
    from gateway import logs
    from gateway.replay import replay

    logs.setup(args.log_level or "info", "logfmt")
    try:
        summary = asyncio.run(replay(_load(args), args.exporter, args.dead_letter))
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
    run.add_argument("--config", action="append", help="YAML config file; several merge in order")
    run.add_argument("--set", action="append", metavar="KEY::SUB=VALUE", help="sets one value over the files")
    run.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="overrides the config")
    run.add_argument("--workers", type=int, help="worker processes sharing the listeners (overrides service.workers)")
    run.set_defaults(func=_cmd_run)
    val = sub.add_parser("validate", help="check a config: exit 0, or 1 listing every problem")
    val.add_argument("--config", action="append", help="YAML config file; several merge in order (default: embedded)")
    val.add_argument("--set", action="append", metavar="KEY::SUB=VALUE", help="sets one value over the files")
    val.add_argument(
        "--no-environment",
        action="store_true",
        help="leave ${env:...} and ${file:...} unresolved and build nothing: syntax, types, references (CI)",
    )
    val.set_defaults(func=_cmd_validate)
    from gateway.convert import convertible

    readable, writable = convertible()
    conv = sub.add_parser(
        "convert",
        help="translate recorded payloads between formats, offline; exit 0 all converted, 1 failed to run, "
        "3 lines rejected, 4 nothing converted",
    )
    conv.add_argument("--from", dest="source", required=True, choices=readable)
    conv.add_argument("--to", dest="target", required=True, choices=writable)
    conv.add_argument("input", help="file or directory, or - for stdin; one request body per line (.gz allowed)")
    conv.add_argument("output", help="file to write (or - for stdout), one request body per line")
    conv.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
    conv.set_defaults(func=_cmd_convert)
    rep = sub.add_parser("replay", help="send an exporter's dead-letter entries again (exit 2 if some fail again)")
    rep.add_argument("--config", action="append", required=True, help="YAML config file (the fixed one); several merge")
    rep.add_argument("--set", action="append", metavar="KEY::SUB=VALUE", help="sets one value over the files")
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
