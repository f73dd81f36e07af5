"""``file`` exporter: appends each batch as JSON lines to a local file.

``format: record`` (default) writes the canonical record, one per line; any other format with a
line form (``gateway convert --help`` lists them: ``sigil``, ``otlp``, ``foglamp``, ``lumiqtrace``)
writes that format's request bodies, one per line, the shape ``gateway convert`` reads back.

``rotation`` keeps the file bounded, as the Collector's file exporter does: before a write would
take the file past ``max_size``, or once this process has been writing it for ``max_age``, it is
renamed to ``<name>-<UTC time><ext>`` (gzipped to ``….gz`` with ``compression: gzip``; the live
file stays plain so ``tail -f`` works), and only the newest ``max_backups`` of those are kept.

.. code-block:: yaml

    exporters:
      file:
        path: ./gateway-out/generations.jsonl
        format: record
        rotation: {max_size: 100MiB, max_age: 24h, max_backups: 5, compression: gzip}
"""

from __future__ import annotations

import asyncio
import dataclasses
import glob
import gzip
import logging
import os
import shutil
import time
from typing import Literal

from gateway import formats
from gateway.component import Capabilities, CreateSettings, exporter_factory
from gateway.errors import PermanentError
from gateway.exporters._dead_letter import DeadLetterConfig, DeadLetterEntry, writable_problem
from gateway.exporters._helper import ExporterHelper, Payload, QueueConfig, RetryConfig
from gateway.formats.report import EncodeReport
from gateway.model import Batch
from gateway.units import ByteSize, Duration

log = logging.getLogger(__name__)

DEFAULT_PATH = "./gateway-out/generations.jsonl"
DEFAULT_FORMAT = "record"
DEFAULT_MAX_BACKUPS = 10


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RotationConfig:
    max_size: ByteSize = ByteSize(0)  # rotate before a write would take the file past this; 0: never
    max_age: Duration = Duration(0)  # rotate once this process has written the file this long; 0: never
    max_backups: int = DEFAULT_MAX_BACKUPS  # rotated files kept (oldest deleted first); 0: all
    compression: Literal["none", "gzip"] = "none"  # gzip the rotated files

    def validate(self) -> list[str]:
        return ["max_backups: must be at least 0"] if self.max_backups < 0 else []


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FileExporterConfig:
    path: str = DEFAULT_PATH  # file to append to; parent directories are created
    format: str = DEFAULT_FORMAT  # what one line holds: a format name (record, sigil, otlp, ...)
    rotation: RotationConfig = dataclasses.field(default_factory=RotationConfig)  # off by default
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
        self._opened_at: float | None = None  # when this process first wrote the live file
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
        path = self._cfg.path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        if self._due(len(data)):
            self._rotate()
        with open(path, "ab") as fh:
            fh.write(data)
        if self._opened_at is None:
            self._opened_at = time.time()

    def _due(self, incoming: int) -> bool:
        r = self._cfg.rotation
        try:
            size = os.path.getsize(self._cfg.path)
        except FileNotFoundError:
            return False
        if size == 0:
            return False
        if r.max_size and size + incoming > r.max_size:
            return True
        return bool(r.max_age) and self._opened_at is not None and time.time() - self._opened_at >= float(r.max_age)

    def _rotate(self) -> None:
        r = self._cfg.rotation
        stem, ext = os.path.splitext(self._cfg.path)
        micros = int(time.time() * 1_000_000)
        while True:  # two rotations within a microsecond must not overwrite each other
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(micros // 1_000_000)) + f"{micros % 1_000_000:06d}Z"
            backup = f"{stem}-{stamp}{ext}"
            if not (os.path.exists(backup) or os.path.exists(backup + ".gz")):
                break
            micros += 1
        os.replace(self._cfg.path, backup)
        self._opened_at = None
        if r.compression == "gzip":
            with open(backup, "rb") as src, gzip.open(backup + ".gz", "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.remove(backup)
        if r.max_backups:
            pattern = f"{glob.escape(stem)}-{'[0-9]' * 8}T{'[0-9]' * 12}Z{glob.escape(ext)}"
            backups = sorted(glob.glob(pattern) + glob.glob(pattern + ".gz"))
            for old in backups[: -r.max_backups]:
                os.remove(old)
        log.info("file exporter %s: rotated %s to %s", self._id, self._cfg.path, os.path.basename(backup))

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
