"""``file`` exporter: appends each batch as JSON lines to a local file.

``format: record`` (default) writes the canonical record, one per line; ``format: sigil``
writes one Sigil ``ExportGenerationsRequest`` protojson body per batch and line, the shape the
Sigil HTTP API takes (so ``gateway convert`` and replay tools can read it back).

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
from typing import Literal

from gateway.component import CreateSettings, Factory
from gateway.errors import PermanentError
from gateway.exporters._helper import ExporterHelper, Payload, QueueConfig, RetryConfig
from gateway.formats import record_json
from gateway.model import Batch

DEFAULT_PATH = "./gateway-out/generations.jsonl"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FileExporterConfig:
    path: str = DEFAULT_PATH  # file to append to; parent directories are created
    format: Literal["record", "sigil"] = "record"  # what one line holds
    # A single writer keeps lines in arrival order.
    sending_queue: QueueConfig = dataclasses.field(default_factory=lambda: QueueConfig(num_consumers=1))

    def validate(self) -> list[str]:
        return [] if self.path.strip() else ["path: must not be empty"]


class FileExporter:
    def __init__(self, settings: CreateSettings, cfg: FileExporterConfig) -> None:
        self._cfg = cfg
        self._t = settings.telemetry
        self._id = str(settings.id)
        self._fh: object | None = None
        self._helper = ExporterHelper(
            settings, self._encode, self._send, retry=RetryConfig(enabled=False), queue=cfg.sending_queue
        )

    def _encode(self, batch: Batch) -> list[Payload]:
        if self._cfg.format == "sigil":
            from gateway.formats import sigil as sigil_format

            data = sigil_format.encode_generations_json(batch.records) + b"\n"
        else:
            data = record_json.dumps_lines(batch.records)
        return [Payload(len(batch.records), data)]

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

    async def consume(self, batch: Batch) -> None:
        await self._helper.consume(batch)

    def saturated(self) -> bool:
        return self._helper.saturated()

    async def shutdown(self) -> None:
        await self._helper.shutdown()


def _create(settings: CreateSettings, cfg: FileExporterConfig) -> FileExporter:
    return FileExporter(settings, cfg)


FACTORY = Factory("exporter", "file", FileExporterConfig, _create, "Appends records to a JSON-lines file.")
