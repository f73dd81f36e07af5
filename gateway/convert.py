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
from collections import Counter
from collections.abc import Callable, Iterator
from typing import IO, Literal, cast

import orjson

from gateway import __version__
from gateway.errors import BadInput
from gateway.formats import foglamp as ff
from gateway.formats import lumiqtrace as lf
from gateway.formats import otlp
from gateway.formats import record as record_json
from gateway.formats import sigil as sf
from gateway.formats._encode_report import EncodeReport
from gateway.formats.pricing import PriceTable
from gateway.model import Kind, Record

Format = Literal["sigil", "foglamp", "lumiqtrace", "otlp", "record"]
FORMATS: tuple[Format, ...] = ("sigil", "foglamp", "lumiqtrace", "otlp", "record")
CHUNK = 500  # records per encoded output group


@dataclasses.dataclass
class Summary:
    lines: int = 0
    records_in: int = 0
    records_out: int = 0
    bad_lines: list[tuple[str, int, str]] = dataclasses.field(default_factory=list)  # file, line, error
    rejected_items: int = 0  # items a source decoder rejected one by one (Sigil per-item errors)
    skipped: Counter[str] = dataclasses.field(default_factory=Counter)  # non-GenAI spans, ...
    report: EncodeReport = dataclasses.field(default_factory=EncodeReport)

    def text(self) -> str:
        out = [
            f"{self.lines} lines read, {self.records_in} records decoded, {self.records_out} records written",
        ]
        if self.bad_lines:
            first = ", ".join(f"{f}:{n}" for f, n, _ in self.bad_lines[:5])
            out.append(f"skipped {len(self.bad_lines)} undecodable lines (first: {first}): {self.bad_lines[0][2]}")
        if self.rejected_items:
            out.append(f"rejected {self.rejected_items} invalid items")
        for reason, n in sorted(self.skipped.items()):
            out.append(f"skipped {n} {reason}")
        out.extend(self.report.summary().splitlines()[1:])
        return "\n".join(out)


def _decoder(fmt: Format, summary: Summary) -> Callable[[bytes], list[Record]]:
    if fmt == "sigil":

        def sigil(line: bytes) -> list[Record]:
            head = orjson.loads(line)
            steps = isinstance(head, dict) and ("workflow_steps" in head or "workflowSteps" in head)
            items = sf.decode_workflow_steps_json(line) if steps else sf.decode_generations_json(line)
            records = [i for i in items if isinstance(i, Record)]
            summary.rejected_items += len(items) - len(records)
            return records

        return sigil
    if fmt == "foglamp":
        return lambda line: ff.decode_ingest(orjson.loads(line))
    if fmt == "lumiqtrace":
        return lambda line: lf.decode_ndjson(line)
    if fmt == "otlp":

        def otlp_json(line: bytes) -> list[Record]:
            records, other = otlp.traces_to_records(otlp.decode_otlp_json(line))
            summary.skipped["non-GenAI spans"] += other
            return records

        return otlp_json
    return lambda line: [record_json.from_dict(orjson.loads(line))]


def _encoder(fmt: Format, summary: Summary) -> Callable[[list[Record]], list[bytes]]:
    report = summary.report
    if fmt == "sigil":

        def sigil(records: list[Record]) -> list[bytes]:
            gens = [r for r in records if r.kind == Kind.LLM]
            steps = [r for r in records if r.kind == Kind.WORKFLOW_STEP]
            report.records_in += len(records)
            report.dropped["not a generation or workflow step"] += len(records) - len(gens) - len(steps)
            report.records_out += len(gens) + len(steps)
            out = [sf.encode_generations_json(gens)] if gens else []
            if steps:
                out.append(sf.encode_workflow_steps_json(steps))
            return out

        return sigil
    if fmt == "foglamp":

        def foglamp(records: list[Record]) -> list[bytes]:
            bodies, r = ff.encode_batches(records)
            report.merge(r)
            return [orjson.dumps(b) for b in bodies]

        return foglamp
    if fmt == "lumiqtrace":
        prices = PriceTable()

        def lumiq(records: list[Record]) -> list[bytes]:
            bodies, r = lf.encode_events(
                records, environment_default="production", sdk_version=__version__, pricing=prices
            )
            report.merge(r)
            return bodies

        return lumiq
    if fmt == "otlp":

        def otlp_json(records: list[Record]) -> list[bytes]:
            report.records_in += len(records)
            report.records_out += len(records)
            req = otlp.records_to_traces(records, resource_attributes={}, include_content=True)
            return [otlp.encode_otlp_json(req)] if records else []

        return otlp_json

    def record(records: list[Record]) -> list[bytes]:
        report.records_in += len(records)
        report.records_out += len(records)
        return [record_json.dumps(r) for r in records]

    return record


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


def convert(
    src: Format,
    dst: Format,
    inp: str,
    out: str,
    *,
    progress: Callable[[int], None] = lambda n: None,
) -> Summary:
    """Translates every line of ``inp`` (file or directory) into ``out``; returns the summary."""
    summary = Summary()
    decode, encode = _decoder(src, summary), _encoder(dst, summary)
    pending: list[Record] = []
    target = contextlib.nullcontext(sys.stdout.buffer) if out == STDIO else open(out, "wb")  # noqa: SIM115
    with target as fh:

        def flush() -> None:
            for body in encode(pending):
                fh.write(body + b"\n")
            pending.clear()

        for path, n, line in _lines(input_files(inp), progress):
            summary.lines += 1
            try:
                records = decode(line)
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
