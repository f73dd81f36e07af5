"""``debug`` exporter: one summary line per batch on the console (stderr, via logging).

``verbosity: detailed`` also prints every record as JSON. Meant for trying the gateway out.

.. code-block:: yaml

    exporters:
      debug: {verbosity: basic}
"""

from __future__ import annotations

import collections
import dataclasses
import logging
from typing import Literal

from gateway.component import Capabilities, CreateSettings, exporter_factory
from gateway.formats import record_json
from gateway.model import Batch

log = logging.getLogger("gateway.debug")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DebugExporterConfig:
    verbosity: Literal["basic", "detailed"] = "basic"  # detailed: every record as JSON too


def summarize(batch: Batch) -> str:
    """``5 records from sigil (http, tenant=fake): llm=4 tool=1; models: openai/gpt-4o x4``."""
    kinds = collections.Counter(str(r.kind) for r in batch.records)
    models = collections.Counter(f"{r.provider}/{r.model}" for r in batch.records if r.model)
    ctx = batch.context
    parts = [f"{len(batch.records)} records from {ctx.receiver or '?'}"]
    if ctx.transport or ctx.tenant:
        parts[0] += f" ({ctx.transport or '?'}, tenant={ctx.tenant or '-'})"
    line = parts[0] + ": " + " ".join(f"{k}={n}" for k, n in sorted(kinds.items()))
    if models:
        line += "; models: " + ", ".join(f"{m} x{n}" for m, n in models.most_common(5))
    if batch.scores or batch.ratings:
        line += f"; scores={len(batch.scores)} ratings={len(batch.ratings)}"
    return line


class DebugExporter:
    capabilities = Capabilities()

    def __init__(self, settings: CreateSettings, cfg: DebugExporterConfig) -> None:
        self._cfg = cfg
        self._id = str(settings.id)
        self._t = settings.telemetry

    async def start(self) -> None:
        return None

    async def consume(self, batch: Batch) -> None:
        log.info("%s: %s", self._id, summarize(batch))
        if self._cfg.verbosity == "detailed":
            for r in batch.records:
                log.info("%s: %s", self._id, record_json.dumps(r).decode())
        self._t.exporter_sent.labels(self._id).inc(len(batch.records))

    def saturated(self) -> bool:
        return False  # no queue: it logs inline

    async def shutdown(self) -> None:
        return None


def _create(settings: CreateSettings, cfg: DebugExporterConfig) -> DebugExporter:
    return DebugExporter(settings, cfg)


FACTORY = exporter_factory("debug", DebugExporterConfig, _create, "Logs one summary line per batch.")
