"""``file`` exporter: appends each batch as JSON lines to a local file.

``format: record`` (default) writes the canonical record, one per line; any other format with a
line form (``gateway convert --help`` lists them: ``sigil``, ``otlp``, ``foglamp``, ``lumiqtrace``)
writes that format's request bodies, one per line, the shape ``gateway convert`` reads back.

.. code-block:: yaml

    exporters:
      file:
        path: ./gateway-out/generations.jsonl
        format: record
"""

from __future__ import annotations

import asyncio
import dataclasses
import os

from gateway import formats
from gateway.component import Capabilities, CreateSettings, exporter_factory
from gateway.errors import PermanentError
from gateway.exporters._dead_letter import DeadLetterConfig, DeadLetterEntry, writable_problem
from gateway.exporters._helper import ExporterHelper, Payload, QueueConfig, RetryConfig
from gateway.formats.report import EncodeReport
from gateway.model import Batch

DEFAULT_PATH = "./gateway-out/generations.jsonl"
DEFAULT_FORMAT = "record"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FileExporterConfig:
    path: str = DEFAULT_PATH  # file to append to; parent directories are created
    format: str = DEFAULT_FORMAT  # what one line holds: a format name (record, sigil, otlp, ...)
    # A single writer keeps lines in arrival order.
    sending_queue: QueueConfig = dataclasses.field(default_factory=lambda: QueueConfig(num_consumers=1))
    dead_letter: DeadLetterConfig = dataclasses.field(default_factory=DeadLetterConfig)

    def validate(self) -> list[str]:
        problems = [] if self.path.strip() else ["path: must not be empty"]
        # Checked here so a path the gateway cannot write fails validate and start, instead of
        # every batch being acknowledged and then dropped.
        if self.path.strip() and (problem := writable_problem(self.path)):
            problems.append(f"path: {problem}")
        writable = sorted(name for name, f in formats.formats().items() if f.line_writer is not None)
        if self.format not in writable:
            problems.append(f"format: unknown format {self.format!r}: expected one of {', '.join(writable)}")
        return problems


class FileExporter:
    capabilities = Capabilities()

    def __init__(self, settings: CreateSettings, cfg: FileExporterConfig) -> None:
        self._cfg = cfg
        self._t = settings.telemetry
        self._id = str(settings.id)
        make_writer = formats.get(cfg.format).line_writer
        assert make_writer is not None  # validate() checked it
        self._writer = make_writer()
        self._helper = ExporterHelper(
            settings,
            self._encode,
            self._send,
            retry=RetryConfig(enabled=False),
            queue=cfg.sending_queue,
            dead_letter=cfg.dead_letter,
        )

    def _encode(self, batch: Batch) -> list[Payload]:
        records, _ = formats.sendable(batch.records, self._cfg.format)
        report = EncodeReport()
        lines = self._writer(records, report)
        return [Payload(report.records_out, b"".join(line + b"\n" for line in lines))] if lines else []

    def _write(self, data: bytes) -> None:
        parent = os.path.dirname(os.path.abspath(self._cfg.path))
        os.makedirs(parent, exist_ok=True)
        with open(self._cfg.path, "ab") as fh:
            fh.write(data)

    async def _send(self, payload: Payload) -> None:
        try:
            await asyncio.to_thread(self._write, payload.data)
        except OSError as exc:
            raise PermanentError(f"cannot write {self._cfg.path}: {exc.strerror}") from None
        self._t.exporter_sent.labels(self._id).inc(payload.count)

    async def start(self) -> None:
        await self._helper.start()

    async def replay(self, entry: DeadLetterEntry) -> None:
        """Sends a dead-lettered batch again (``gateway replay``), bypassing the queue."""
        await self._helper.send_now(entry.batch, parts=entry.parts, parts_sent=entry.parts_sent)

    async def consume(self, batch: Batch) -> None:
        await self._helper.consume(batch)

    def saturated(self) -> bool:
        return self._helper.saturated()

    async def shutdown(self) -> None:
        await self._helper.shutdown()


def _create(settings: CreateSettings, cfg: FileExporterConfig) -> FileExporter:
    return FileExporter(settings, cfg)


FACTORY = exporter_factory("file", FileExporterConfig, _create, "Appends records to a JSON-lines file.")
