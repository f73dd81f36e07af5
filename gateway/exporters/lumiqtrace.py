"""``lumiqtrace`` exporter: sends records as LumiqTrace events, gzip NDJSON on ``POST /v1/ingest``.

At most ``max_events`` (100) events per request, ``x-api-key`` auth, gzip bodies (the docs
recommend it; ``compression: false`` sends plain NDJSON). What goes out is decided by
:func:`gateway.formats.lumiqtrace.encode_events` (``docs/mapping.md`` has the rules):

* ``event_id`` is deterministic: the record's id when it is a UUID, else a UUIDv5 of its trace,
  span and record ids, so a retry or a replay from the persistent queue never duplicates an
  event on LumiqTrace, which deduplicates by it.
* ``cost_usd`` is the record's when it has one, else computed offline from model and usage
  (``genai-prices``); a call it cannot price goes out with ``cost_usd: 0`` **and** the tag
  ``cost_status: unpriced`` (0 alone would read as free).
* ``environment`` is the record's, else this exporter's ``environment``; ``sdk_version`` the
  record's, else the gateway's version.
* LumiqTrace events are model calls: tool executions, agent roots and workflow steps without a
  model and tokens are dropped and counted (``reason="non_llm_kind"``), OTLP pass-through
  records (non-GenAI spans) likewise (``reason="otlp_passthrough"``); never an error for the
  client.

A 429 with ``Retry-After`` (1000 requests/min per key) is retried after that delay; the
monthly-quota 429 (no ``Retry-After``) and other 4xx are permanent; 408 and 5xx are retried.

.. code-block:: yaml

    exporters:
      lumiqtrace:
        endpoint: https://api.lumiqtrace.com   # /v1/ingest is appended
        api_key: "${env:LUMIQ_KEY}"
        environment: production
"""

from __future__ import annotations

import dataclasses
import gzip

from gateway import __version__, formats
from gateway.component import CreateSettings, exporter_factory
from gateway.errors import PermanentError, RetryableError
from gateway.exporters._helper import Payload, SenderConfig
from gateway.exporters._http_json import HttpJsonExporter, endpoint_and_key_problems
from gateway.formats import lumiqtrace as lf
from gateway.formats.lumiqtrace.scores import merge_into_eval_scores
from gateway.formats.pricing import PriceTable
from gateway.formats.report import EncodeReport
from gateway.model import Batch

DEFAULT_ENVIRONMENT = "production"
GZIP_LEVEL = 6


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class LumiqExporterConfig(SenderConfig):
    endpoint: str  # base URL; the exporter adds /v1/ingest
    api_key: str  # project key, sent as x-api-key
    environment: str = DEFAULT_ENVIRONMENT  # for records that do not carry one
    compression: bool = True  # gzip request bodies (recommended by LumiqTrace)
    max_events: int = lf.MAX_EVENTS  # events per request (LumiqTrace: at most 100)

    def validate(self) -> list[str]:
        problems = SenderConfig.validate(self) + endpoint_and_key_problems(self.endpoint, self.api_key)
        if not 1 <= self.max_events <= lf.MAX_EVENTS:
            problems.append(f"max_events: must be between 1 and {lf.MAX_EVENTS}")
        if not self.environment.strip():
            problems.append("environment: must not be empty")
        return problems


class LumiqExporter(HttpJsonExporter):
    takes_scores = True  # scores ride on their event as eval_scores

    def __init__(self, settings: CreateSettings, cfg: LumiqExporterConfig) -> None:
        self._cfg = cfg
        self._prices = PriceTable()
        headers = {"Content-Type": "application/x-ndjson", "x-api-key": cfg.api_key.strip(), **cfg.headers}
        if cfg.compression:
            headers["Content-Encoding"] = "gzip"
        super().__init__(
            settings,
            url=cfg.endpoint.rstrip("/") + "/v1/ingest",
            headers=headers,
            timeout=float(cfg.timeout),
            tls=cfg.tls,
            retry=cfg.retry_on_failure,
            queue=cfg.sending_queue,
            dead_letter=cfg.dead_letter,
        )

    def encode(self, batch: Batch) -> tuple[list[Payload], EncodeReport]:
        sendable, reserved = formats.sendable(batch.records, "lumiqtrace")
        records, unplaced = merge_into_eval_scores(sendable, batch.scores)
        for reason, n in unplaced.items():
            self._t.exporter_dropped_items.labels(self._id, "score", reason).inc(n)
        bodies, report = lf.encode_events(
            records,
            environment_default=self._cfg.environment,
            sdk_version=__version__,
            pricing=self._prices,
            max_events=self._cfg.max_events,
        )
        report.dropped.update(reserved)
        payloads = []
        for body in bodies:
            count = body.count(b"\n") + 1
            data = gzip.compress(body, GZIP_LEVEL, mtime=0) if self._cfg.compression else body
            payloads.append(Payload(count, (data, {})))
        return payloads, report

    def classify(self, status: int, body: bytes, retry_after: float | None) -> None:
        text = body[:300].decode("utf-8", "replace").strip()
        if status == 429 and retry_after is None:
            # "Monthly quota exceeded": the docs say upgrade or wait for the next month.
            raise PermanentError(f"POST {self.url}: HTTP 429 without Retry-After (monthly quota?): {text}")
        if status == 429:
            raise RetryableError(f"POST {self.url}: HTTP 429 rate limited: {text}", retry_after)
        super().classify(status, body, retry_after)


def _create(settings: CreateSettings, cfg: LumiqExporterConfig) -> LumiqExporter:
    return LumiqExporter(settings, cfg)


FACTORY = exporter_factory(
    "lumiqtrace",
    LumiqExporterConfig,
    _create,
    "Sends LLM-call events to LumiqTrace (gzip NDJSON).",
)
