"""``foglamp`` exporter: sends records as Foglamp ``POST /ingest`` batches.

Records are grouped into traces by trace id; every body passes Foglamp's strict contract
(see :func:`gateway.formats.foglamp.encode_batches`) and stays within ``max_traces`` traces,
``max_spans_per_trace`` spans per trace object and ``max_body_bytes``. Every record kind has a
span type (workflow steps go as ``other``), so nothing is dropped for its kind; only OTLP
pass-through records (non-GenAI spans, ``extra["otlp.passthrough"]``) are dropped and counted as
``gateway_exporter_dropped_records{reason="otlp_passthrough"}``, because Foglamp would store
them as spans of the LLM app.

Delivery follows Foglamp's answers (``wire/foglamp.md`` §3, §5): the key goes in
``Authorization: Bearer``; a 429 with ``Retry-After`` (the per-key rate limit) is retried after
that delay; a 429 without it (the monthly span quota) is permanent, as are 400, 401 and 413
(every check runs before Foglamp buffers rows, so nothing was taken); 408 and 5xx are retried.
A retry resends only the bodies Foglamp has not accepted, because Foglamp has no idempotency
key and its roll-ups double count resent spans.

``max_spans_per_second`` paces sending with a token bucket shaped like Foglamp's limiter (one
second of burst, a body costs its span count clamped to one second's worth), so a backlog drains
at the key's budget instead of bouncing off 429s. Foglamp's default budget is 100 spans/s per
key; 0 (the default) sends as fast as the backend answers.

.. code-block:: yaml

    exporters:
      foglamp:
        endpoint: http://127.0.0.1:4000     # base URL; /ingest is appended
        api_key: "${env:FOGLAMP_KEY}"
        max_spans_per_second: 100
"""

from __future__ import annotations

import dataclasses
from typing import Final

import orjson

from gateway import formats
from gateway.component import CreateSettings, exporter_factory
from gateway.errors import PermanentError, RetryableError
from gateway.exporters._helper import Payload, SenderConfig
from gateway.exporters._http_json import HttpJsonExporter, endpoint_and_key_problems
from gateway.exporters._pacing import TokenBucket
from gateway.formats import foglamp as ff
from gateway.formats.report import EncodeReport
from gateway.model import Batch
from gateway.units import ByteSize

DEFAULT_MAX_TRACES: Final = 1000  # Foglamp's limit per body
DEFAULT_MAX_SPANS_PER_TRACE: Final = 2000  # Foglamp's limit per trace object
DEFAULT_MAX_BODY: Final = 10 * 1024 * 1024  # Foglamp's INGEST_MAX_BODY_BYTES default


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FoglampExporterConfig(SenderConfig):
    endpoint: str  # base URL; the exporter adds /ingest
    api_key: str  # project key, sent as Authorization: Bearer
    max_traces: int = DEFAULT_MAX_TRACES  # traces per request (Foglamp's limit)
    max_spans_per_trace: int = DEFAULT_MAX_SPANS_PER_TRACE  # spans per trace object (Foglamp's limit)
    max_body_bytes: ByteSize = ByteSize(DEFAULT_MAX_BODY)  # request body limit (Foglamp's default)
    max_spans_per_second: float = 0.0  # pace to the key's rate limit (Foglamp default: 100); 0 = off

    def validate(self) -> list[str]:
        problems = SenderConfig.validate(self) + endpoint_and_key_problems(self.endpoint, self.api_key)
        if not 1 <= self.max_traces <= DEFAULT_MAX_TRACES:
            problems.append(f"max_traces: must be between 1 and {DEFAULT_MAX_TRACES}")
        if not 1 <= self.max_spans_per_trace <= DEFAULT_MAX_SPANS_PER_TRACE:
            problems.append(f"max_spans_per_trace: must be between 1 and {DEFAULT_MAX_SPANS_PER_TRACE}")
        if self.max_body_bytes < 1024:
            problems.append("max_body_bytes: must be at least 1KiB")
        if self.max_spans_per_second < 0:
            problems.append("max_spans_per_second: must not be negative")
        return problems


class FoglampExporter(HttpJsonExporter):
    def __init__(self, settings: CreateSettings, cfg: FoglampExporterConfig) -> None:
        self._cfg = cfg
        rate = float(cfg.max_spans_per_second)
        self._pacer = TokenBucket(rate, rate) if rate > 0 else None  # burst: one second, as Foglamp
        super().__init__(
            settings,
            url=cfg.endpoint.rstrip("/") + "/ingest",
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {cfg.api_key.strip()}",
                **cfg.headers,
            },
            timeout=float(cfg.timeout),
            tls=cfg.tls,
            retry=cfg.retry_on_failure,
            queue=cfg.sending_queue,
            dead_letter=cfg.dead_letter,
        )

    def encode(self, batch: Batch) -> tuple[list[Payload], EncodeReport]:
        records, reserved = formats.sendable(batch.records, "foglamp")
        bodies, report = ff.encode_batches(
            records,
            max_traces=self._cfg.max_traces,
            max_spans_per_trace=self._cfg.max_spans_per_trace,
            max_body_bytes=int(self._cfg.max_body_bytes),
        )
        report.dropped.update(reserved)
        payloads = [Payload(sum(len(t["spans"]) for t in body["traces"]), (orjson.dumps(body), {})) for body in bodies]
        return payloads, report

    async def _send(self, payload: Payload) -> None:
        if self._pacer is not None:
            await self._pacer.take(payload.count)  # every attempt counts against Foglamp's budget
        await super()._send(payload)

    def classify(self, status: int, body: bytes, retry_after: float | None) -> None:
        text = body[:300].decode("utf-8", "replace").strip()
        if status == 429 and retry_after is None:
            # The monthly quota: waiting seconds cannot help (the rate limit always says when).
            raise PermanentError(f"POST {self.url}: HTTP 429 without Retry-After (monthly quota?): {text}")
        if status == 429:
            raise RetryableError(f"POST {self.url}: HTTP 429 rate limited: {text}", retry_after)
        if status == 413:
            raise PermanentError(
                f"POST {self.url}: HTTP 413: {text} (lower max_body_bytes to the server's INGEST_MAX_BODY_BYTES)"
            )
        super().classify(status, body, retry_after)


def _create(settings: CreateSettings, cfg: FoglampExporterConfig) -> FoglampExporter:
    return FoglampExporter(settings, cfg)


FACTORY = exporter_factory("foglamp", FoglampExporterConfig, _create, "Sends traces to Foglamp POST /ingest.")
