"""``foglamp`` exporter: sends records as Foglamp ``POST /ingest`` batches.

Records are grouped into traces by trace id; every body passes Foglamp's strict contract
(see :func:`gateway.formats.foglamp.encode_batches`) and stays within 1000 traces, 2000 spans per
trace and the body limit. The key goes in ``Authorization: Bearer``. A 429 with ``Retry-After``
(rate limit) is retried after that delay; the monthly-quota 429 (no ``Retry-After``) is
permanent, as are other 4xx; 408 and 5xx are retried. A retry resends only the bodies Foglamp
has not accepted, because Foglamp double-counts resent spans in its roll-ups.

.. code-block:: yaml

    exporters:
      foglamp:
        endpoint: http://127.0.0.1:4000     # base URL; /ingest is appended
        api_key: "${env:FOGLAMP_KEY}"
"""

from __future__ import annotations

import dataclasses

import orjson

from gateway.component import CreateSettings, Factory
from gateway.config import ByteSize, Duration
from gateway.errors import PermanentError, RetryableError
from gateway.exporters._helper import DEFAULT_TIMEOUT, Payload, QueueConfig, RetryConfig
from gateway.exporters._http_json import HttpJsonExporter
from gateway.exporters._transport import TlsConfig
from gateway.formats import foglamp as ff
from gateway.formats._encode_report import EncodeReport
from gateway.model import Batch

DEFAULT_MAX_BODY = 10 * 1024 * 1024


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FoglampExporterConfig:
    endpoint: str  # base URL; the exporter adds /ingest
    api_key: str  # project key, sent as Authorization: Bearer
    headers: dict[str, str] = dataclasses.field(default_factory=dict)  # extra request headers
    max_traces: int = 1000  # traces per request (Foglamp's limit)
    max_spans_per_trace: int = 2000  # spans per trace object (Foglamp's limit)
    max_body_bytes: ByteSize = ByteSize(DEFAULT_MAX_BODY)  # request body limit (Foglamp's default)
    tls: TlsConfig = dataclasses.field(default_factory=TlsConfig)
    timeout: Duration = Duration(DEFAULT_TIMEOUT)  # per request, seconds
    retry_on_failure: RetryConfig = dataclasses.field(default_factory=RetryConfig)
    sending_queue: QueueConfig = dataclasses.field(default_factory=QueueConfig)

    def validate(self) -> list[str]:
        problems = []
        if not self.endpoint.startswith(("http://", "https://")):
            problems.append("endpoint: must start with http:// or https://")
        if not self.api_key.strip():
            problems.append("api_key: must not be empty (is the environment variable set?)")
        if not 1 <= self.max_traces <= 1000:
            problems.append("max_traces: must be between 1 and 1000")
        if not 1 <= self.max_spans_per_trace <= 2000:
            problems.append("max_spans_per_trace: must be between 1 and 2000")
        return problems


class FoglampExporter(HttpJsonExporter):
    def __init__(self, settings: CreateSettings, cfg: FoglampExporterConfig) -> None:
        self._cfg = cfg
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
        )

    def encode(self, batch: Batch) -> tuple[list[Payload], EncodeReport]:
        bodies, report = ff.encode_batches(
            batch.records,
            max_traces=self._cfg.max_traces,
            max_spans_per_trace=self._cfg.max_spans_per_trace,
            max_body_bytes=int(self._cfg.max_body_bytes),
        )
        payloads = [Payload(sum(len(t["spans"]) for t in body["traces"]), (orjson.dumps(body), {})) for body in bodies]
        return payloads, report

    def classify(self, status: int, body: bytes, retry_after: float | None) -> None:
        if status == 429 and retry_after is None:
            # The monthly quota: waiting seconds cannot help.
            raise PermanentError(f"POST {self.url}: HTTP 429 without Retry-After (quota): {body[:200]!r}")
        if status == 429:
            raise RetryableError(f"POST {self.url}: HTTP 429 rate limited", retry_after)
        super().classify(status, body, retry_after)


def _create(settings: CreateSettings, cfg: FoglampExporterConfig) -> FoglampExporter:
    return FoglampExporter(settings, cfg)


FACTORY = Factory("exporter", "foglamp", FoglampExporterConfig, _create, "Sends traces to Foglamp POST /ingest.")
