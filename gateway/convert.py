"""``gateway convert``: translates recorded payloads between formats, offline.

Input is a file, a directory of files (read in name order; ``.gz`` files are inflated), or ``-``
for standard input; output is a file or ``-`` for standard output. Each
line is one request body of the source format: a Sigil ``ExportGenerationsRequest`` (protojson),
a Foglamp ``/ingest`` body, an OTLP/JSON ``ExportTraceServiceRequest``, one canonical record
(``record``), or, for LumiqTrace, one event (NDJSON bodies are event-per-line already).
Output is one request body per line of the target format (LumiqTrace: one event per line).

Records go through in chunks, so memory stays flat on large inputs. Bad lines are skipped and
counted with their line numbers; what the target format could not hold is summarised at the end
from the encoders' reports. The same pure translation functions the gateway runs are used.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import os
import sys
from collections.abc import Callable, Iterator
from typing import IO, cast

from gateway import formats
from gateway.errors import BadInput
from gateway.formats import LineStats
from gateway.formats.report import EncodeReport
from gateway.model import Record

CHUNK = 500  # records per encoded output group


@dataclasses.dataclass
class Summary:
    lines: int = 0
    records_in: int = 0
    records_out: int = 0
    bad_lines: list[tuple[str, int, str]] = dataclasses.field(default_factory=list)  # file, line, error
    stats: LineStats = dataclasses.field(default_factory=LineStats)  # items rejected or skipped inside lines
    report: EncodeReport = dataclasses.field(default_factory=EncodeReport)

    def text(self) -> str:
        out = [
            f"{self.lines} lines read, {self.records_in} records decoded, {self.records_out} records written",
        ]
        if self.bad_lines:
            first = ", ".join(f"{f}:{n}" for f, n, _ in self.bad_lines[:5])
            out.append(f"skipped {len(self.bad_lines)} undecodable lines (first: {first}): {self.bad_lines[0][2]}")
        if self.stats.rejected_items:
            out.append(f"rejected {self.stats.rejected_items} invalid items")
        for reason, n in sorted(self.stats.skipped.items()):
            out.append(f"skipped {n} {reason}")
        out.extend(self.report.summary().splitlines()[1:])
        return "\n".join(out)


STDIO = "-"  # standard input as the input, standard output as the output


def input_files(path: str) -> list[str]:
    if path == STDIO:
        return [path]
    if os.path.isdir(path):
        return sorted(
            os.path.join(root, name) for root, _, names in os.walk(path) for name in names if not name.startswith(".")
        )
    return [path]


def _open(path: str) -> IO[bytes]:
    if path == STDIO:
        return cast(IO[bytes], contextlib.nullcontext(sys.stdin.buffer))
    if path.endswith(".gz"):
        return cast(IO[bytes], gzip.GzipFile(path, "rb"))
    return open(path, "rb")


def _lines(files: list[str], advance: Callable[[int], None]) -> Iterator[tuple[str, int, bytes]]:
    for path in files:
        with _open(path) as fh:
            for n, line in enumerate(fh, 1):
                advance(len(line))
                line = line.strip()
                if line:
                    yield path, n, line


def convertible() -> tuple[list[str], list[str]]:
    """The registered formats `convert` can read, and those it can write."""
    registered = formats.formats().values()
    return (
        [f.name for f in registered if f.line_reader is not None],
        [f.name for f in registered if f.line_writer is not None],
    )


def convert(
    src: str,
    dst: str,
    inp: str,
    out: str,
    *,
    progress: Callable[[int], None] = lambda n: None,
) -> Summary:
    """Translates every line of ``inp`` (file or directory) into ``out``; returns the summary."""
    summary = Summary()
    reader, make_writer = formats.get(src).line_reader, formats.get(dst).line_writer
    if reader is None or make_writer is None:
        raise KeyError(f"cannot convert {src} to {dst}: {src if reader is None else dst} has no line form")
    writer = make_writer()
    pending: list[Record] = []
    target = contextlib.nullcontext(sys.stdout.buffer) if out == STDIO else open(out, "wb")  # noqa: SIM115
    with target as fh:

        def flush() -> None:
            for body in writer(pending, summary.report):
                fh.write(body + b"\n")
            pending.clear()

        for path, n, line in _lines(input_files(inp), progress):
            summary.lines += 1
            try:
                records = reader(line, summary.stats)
            except (ValueError, TypeError, BadInput) as exc:
                summary.bad_lines.append((os.path.basename(path), n, str(exc)[:200]))
                continue
            summary.records_in += len(records)
            pending.extend(records)
            if len(pending) >= CHUNK:
                flush()
        flush()
    summary.records_out = summary.report.records_out
    return summary


def total_bytes(inp: str) -> int | None:
    """Input size for the progress bar; None for standard input."""
    if inp == STDIO:
        return None
    return sum(os.path.getsize(p) for p in input_files(inp))
