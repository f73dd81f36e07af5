"""``otlp`` exporter: records as OTLP GenAI spans, and GenAI client metrics made from them.

Traces: each batch becomes ``ExportTraceServiceRequest`` s (:func:`gateway.formats.otlp.
records_to_traces`, semantic conventions ``semconv_version``), split so that none is larger than
``max_request_size`` before compression, sent with the shared helper's queue and retries. Span
ids are the records' own when they are OTLP ids, else derived deterministically, so a retry or a
replay sends the same span.

Metrics: every batch is added to a :class:`~gateway.formats.otlp.encode_metrics.MetricsAggregator`
once, when it is encoded (never again on a retry). Every ``metrics.interval`` the aggregate is
collected and sent; a failed send is retried until the next interval is due. Shutdown drains the
trace queue first, then collects and sends once more, so the last records count too.

Transport (:mod:`._otlp_client`): ``protocol: grpc`` calls ``TraceService/Export`` and
``MetricsService/Export`` (``http://`` plaintext, ``https://`` TLS, a bare ``host:port`` TLS unless
``tls.insecure``); ``http/protobuf`` and ``http/json`` POST to ``<endpoint>/v1/traces`` and
``/v1/metrics``. Only 429/502/503/504 (and the gRPC retryable codes) are retried, honouring
``Retry-After`` / ``RetryInfo``. A partial success is never retried: the rejected spans are
counted as ``gateway_exporter_dropped_records_total{reason="partial_success"}`` (rejected metric
points as ``gateway_exporter_metric_points_total{outcome="rejected"}``) and logged now and then.

Compression (:mod:`._otlp_client` has the measurements): ``gzip`` (default), ``zstd`` (HTTP only)
or ``none``. Over HTTP the level is ``compression_params.level`` (gzip 1 by default, not the
Collector's 6: a quarter of the CPU for ~30% more bytes), and a body of 64 KiB or more is
compressed in a worker thread, off the event loop. Over gRPC, grpcio compresses (gzip at its own
level, on the loop: about as costly as encoding the spans); ``none`` saves that CPU near the
backend.

Pass-through: with traces on, ``include_content: true``, ``conventions: [gen_ai]`` and the
default ``semconv_version`` (:func:`takes_natives`), the records path gives a canonical
span back unchanged, so the exporter declares the ``otlp.traces`` native kind: an ``otlp``
receiver then hands on requests of such spans untranslated (rule in
:mod:`gateway.formats.otlp.native`), and the exporter sends them as they came (over gRPC the
received bytes), split at ``max_request_size`` where records would be split, counted, retried and
queued like records. A resource lacking a configured ``resource_attributes`` key, and natives
meeting settings that do not take them, take the records path. With metrics on (the default),
the calls are counted from the spans as they are (:mod:`gateway.formats.otlp.native_metrics`,
the same points the records would give).

Content: ``include_content`` (default true) adds the opt-in content attributes (messages, system
instructions, tool definitions, tool arguments and results); a record whose metadata
``sigil.sdk.content_capture_mode`` is ``metadata_only`` never gets them.

.. code-block:: yaml

    exporters:
      otlp:
        endpoint: http://127.0.0.1:4318        # base URL; /v1/traces and /v1/metrics are appended
        protocol: http/protobuf                # grpc | http/protobuf | http/json
        compression: gzip                      # gzip | zstd (HTTP) | none
        compression_params: {level: 1}         # HTTP: gzip 1-9, zstd 1-22
        resource_attributes: {service.name: my-gateway, deployment.environment.name: prod}
        metrics: {interval: 30s, temporality: delta}
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Sequence
from typing import Literal

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from gateway import __version__
from gateway.component import Capabilities, CreateSettings, exporter_factory
from gateway.errors import PermanentError, RetryableError
from gateway.exporters._dead_letter import DeadLetterEntry
from gateway.exporters._helper import Backoff, ExporterHelper, Payload, SenderConfig
from gateway.exporters._otlp_client import (
    DEFAULT_GZIP_LEVEL,
    DEFAULT_ZSTD_LEVEL,
    GZIP_LEVELS,
    ZSTD_LEVELS,
    Body,
    OtlpClient,
)
from gateway.exporters._transport import grpc_target
from gateway.formats.otlp import native as otlp_native
from gateway.formats.otlp import native_metrics, records_to_traces_bytes
from gateway.formats.otlp.encode_metrics import DEFAULT_MAX_SERIES, MetricsAggregator
from gateway.formats.otlp.semconv import DEFAULT, DEFAULT_VERSION, VERSIONS, SemConv, get_semconv
from gateway.model import Batch, Record
from gateway.telemetry import RateLimitedLog
from gateway.units import ByteSize, Duration

log = logging.getLogger(__name__)

USER_AGENT = f"llm-telemetry-gateway/{__version__}"
DEFAULT_METRICS_INTERVAL = 60.0
# The gRPC default receive limit (the Collector's too); larger requests are split.
DEFAULT_MAX_REQUEST_SIZE = 4 * 1024 * 1024
# Span attribute sets: the GenAI semantic conventions, OpenInference (Phoenix, Arize), or both.
Convention = Literal["gen_ai", "openinference"]
DEFAULT_CONVENTIONS: tuple[Convention, ...] = ("gen_ai",)


def _default_conventions() -> list[Convention]:
    return list(DEFAULT_CONVENTIONS)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OtlpTracesConfig:
    enabled: bool = True  # send one span per record


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OtlpMetricsConfig:
    enabled: bool = True  # send gen_ai.client.* histograms made from LLM and embedding records
    interval: Duration = Duration(DEFAULT_METRICS_INTERVAL)  # collect and send every interval
    temporality: Literal["cumulative", "delta"] = "cumulative"  # delta: each export starts from zero
    max_series: int = DEFAULT_MAX_SERIES  # attribute sets per metric; more go to one overflow series

    def validate(self) -> list[str]:
        problems = []
        if self.interval <= 0:
            problems.append("interval: must be greater than 0")
        if self.max_series < 1:
            problems.append("max_series: must be at least 1")
        return problems


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OtlpCompressionParams:
    # HTTP only, as the Collector's compression_params. 0 (or -1) is the default: gzip 1 (a quarter
    # of level 6's CPU for ~30% more bytes), zstd 1.
    level: int = 0  # gzip 1 (fastest) to 9, zstd 1 to 22


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OtlpExporterConfig(SenderConfig):
    endpoint: str  # base URL (HTTP) or gRPC target: http:// plaintext, https:// or bare host:port TLS
    protocol: Literal["grpc", "http/protobuf", "http/json"] = "grpc"  # transport and encoding
    compression: Literal["gzip", "zstd", "none"] = "gzip"  # gRPC: gzip or none; none saves CPU near the backend
    compression_params: OtlpCompressionParams = dataclasses.field(default_factory=OtlpCompressionParams)  # HTTP level
    resource_attributes: dict[str, str] = dataclasses.field(default_factory=dict)  # e.g. service.name
    include_content: bool = True  # content attributes; never for metadata_only records
    semconv_version: str = DEFAULT_VERSION  # GenAI semantic-convention names to emit
    emit_deprecated: bool = False  # also write deprecated names kept from the source, for old backends
    conventions: list[Convention] = dataclasses.field(default_factory=_default_conventions)  # gen_ai, openinference
    max_request_size: ByteSize = ByteSize(DEFAULT_MAX_REQUEST_SIZE)  # split larger trace requests
    traces: OtlpTracesConfig = dataclasses.field(default_factory=OtlpTracesConfig)
    metrics: OtlpMetricsConfig = dataclasses.field(default_factory=OtlpMetricsConfig)

    def validate(self) -> list[str]:
        problems = SenderConfig.validate(self)
        endpoint = self.endpoint.strip()
        if not endpoint:
            problems.append("endpoint: must not be empty")
        elif self.protocol != "grpc":
            if not endpoint.startswith(("http://", "https://")):
                problems.append(f"endpoint: must start with http:// or https:// when protocol is {self.protocol}")
            elif endpoint.rstrip("/").endswith(("/v1/traces", "/v1/metrics")):
                problems.append("endpoint: is a base URL; the exporter appends /v1/traces and /v1/metrics")
        elif "/" in grpc_target(endpoint, self.tls)[0]:
            problems.append("endpoint: a gRPC target is host:port (with http:// or https://), not a URL path")
        if self.protocol == "grpc" and self.compression == "zstd":
            problems.append("compression: must be gzip or none when protocol is grpc")
        problems += self._level_problems()
        if self.semconv_version not in VERSIONS:
            known = ", ".join(sorted(VERSIONS))
            problems.append(f"semconv_version: unknown version {self.semconv_version!r} (known: {known})")
        if not self.conventions:
            problems.append("conventions: name at least one of gen_ai, openinference")
        if self.max_request_size < 1024:
            problems.append("max_request_size: must be at least 1KiB")
        if not (self.traces.enabled or self.metrics.enabled):
            problems.append("at least one of traces, metrics must be enabled")
        return problems

    def _level_problems(self) -> list[str]:
        level = self.compression_params.level
        if level in (0, -1):  # -1: the Collector's spelling of the default
            return []
        where = "compression_params::level"
        if self.protocol == "grpc":
            return [f"{where}: not supported when protocol is grpc (grpcio compresses at its own level)"]
        if self.compression == "none":
            return [f"{where}: not supported when compression is none"]
        levels = GZIP_LEVELS if self.compression == "gzip" else ZSTD_LEVELS
        if level in levels:
            return []
        default = DEFAULT_GZIP_LEVEL if self.compression == "gzip" else DEFAULT_ZSTD_LEVEL
        return [
            f"{where}: must be {levels.start} to {levels.stop - 1} for {self.compression}"
            f" (0 or unset: the default, {default}), got {level}"
        ]


def takes_natives(cfg: OtlpExporterConfig) -> bool:
    """Whether, under these settings, the records path gives a canonical span back unchanged
    (gateway.formats.otlp.native), so that this exporter may send the spans an ``otlp``
    receiver parsed as they are (metrics, when on, are counted from them by
    ``gateway.formats.otlp.native_metrics``)."""
    return (
        cfg.traces.enabled
        and cfg.include_content
        and list(cfg.conventions) == ["gen_ai"]
        and get_semconv(cfg.semconv_version) is DEFAULT
    )


class OtlpExporter:
    def __init__(self, settings: CreateSettings, cfg: OtlpExporterConfig) -> None:
        self._cfg = cfg
        self._id = str(settings.id)
        self._t = settings.telemetry
        self._warn = RateLimitedLog(log)
        self._semconv: SemConv = get_semconv(cfg.semconv_version)
        self._resource = dict(cfg.resource_attributes)
        self.capabilities = Capabilities(native_kinds=frozenset({otlp_native.KIND} if takes_natives(cfg) else ()))
        self._client = OtlpClient(
            endpoint=cfg.endpoint.strip(),
            protocol=cfg.protocol,
            compression=cfg.compression,
            compression_level=max(cfg.compression_params.level, 0),  # -1: zlib's default, as 0
            headers=dict(cfg.headers),
            tls=cfg.tls,
            timeout=float(cfg.timeout),
            user_agent=USER_AGENT,
        )
        self._helper = ExporterHelper(
            settings,
            self._encode,
            self._send,
            retry=cfg.retry_on_failure,
            queue=cfg.sending_queue,
            dead_letter=cfg.dead_letter,
        )
        self._aggregator: MetricsAggregator | None = None
        if cfg.metrics.enabled:
            self._aggregator = MetricsAggregator(
                cfg.metrics.temporality,
                cfg.metrics.max_series,
                semconv=self._semconv,
                resource_attributes=self._resource,
            )
        self._metrics_task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._started = False
        self._stopped = False
        # Delta points collected but not delivered when shutdown cut their retries short.
        self._unsent: ExportMetricsServiceRequest | None = None

    async def start(self) -> None:
        await self._client.start()
        self._started = True
        try:
            await self._helper.start()
        except BaseException:
            await self._client.close()
            raise
        if self._aggregator is not None and self._metrics_task is None:
            self._metrics_task = asyncio.create_task(self._metrics_loop(), name=f"{self._id}-metrics")

    async def replay(self, entry: DeadLetterEntry) -> None:
        """Sends a dead-lettered batch again (``gateway replay``), bypassing the queue."""
        await self._helper.send_now(entry.batch, parts=entry.parts, parts_sent=entry.parts_sent)

    async def consume(self, batch: Batch) -> None:
        await self._helper.consume(batch)

    def saturated(self) -> bool:
        return self._helper.saturated()

    async def shutdown(self) -> None:
        """Drains the trace queue, then sends the metrics one last time; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        try:
            await self._helper.shutdown()
            self._closing.set()
            if self._metrics_task is not None:
                await self._metrics_task
                self._metrics_task = None
            if self._started and self._aggregator is not None:
                await self._export_metrics(deadline=time.monotonic() + float(self._cfg.metrics.interval), final=True)
        finally:
            # Also when the service's deadline cancels the drain: never leak a socket.
            self._closing.set()
            if self._metrics_task is not None:
                self._metrics_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._metrics_task
            await self._client.close()

    # -- traces ------------------------------------------------------------------------------

    def _encode(self, batch: Batch) -> Sequence[Payload]:
        """Called once per batch by the helper: feeds the metrics, then builds the requests."""
        native = batch.native
        if self._aggregator is not None:
            if isinstance(native, otlp_native.OtlpTraces):
                self._aggregator.add_points(native_metrics.points(native, self._semconv))
            else:
                self._aggregator.add(batch.records)
        if not self._cfg.traces.enabled:
            return []
        if isinstance(native, otlp_native.OtlpTraces) and self._keeps_resources(native):
            return [Payload(len(part), body) for part, body in self._native_requests(native)]
        return [Payload(len(chunk), body) for chunk, body in self._requests(batch.records)]

    def _keeps_resources(self, native: otlp_native.OtlpTraces) -> bool:
        """Whether every resource already has the configured attributes (the record's own win,
        so the records path would write it back unchanged)."""
        wanted = self._resource.keys()
        return not wanted or all(wanted <= keys for keys in native.resource_keys())

    def _native_requests(self, native: otlp_native.OtlpTraces) -> list[tuple[otlp_native.OtlpTraces, Body]]:
        """The spans as received, split at the same points as :meth:`_requests` splits records."""
        data = native.to_bytes()  # the bytes received, when they are exactly these spans
        if len(native) > 1 and len(data) > int(self._cfg.max_request_size):
            first, rest = native.halves()
            return self._native_requests(first) + self._native_requests(rest)
        return [(native, self._client.body(data))]  # protobuf: as received; OTLP/JSON written from it

    def _requests(self, records: list[Record]) -> list[tuple[list[Record], Body]]:
        request = records_to_traces_bytes(
            records,
            resource_attributes=self._resource,
            include_content=self._cfg.include_content,
            semconv=self._semconv,
            emit_deprecated=self._cfg.emit_deprecated,
            conventions=self._cfg.conventions,
        )
        if len(records) > 1 and len(request) > int(self._cfg.max_request_size):
            # Halving keeps a resource's spans together as far as possible; a single record
            # larger than the limit still goes alone, and the server decides.
            half = len(records) // 2
            return self._requests(records[:half]) + self._requests(records[half:])
        return [(records, self._client.body(request))]

    async def _send(self, payload: Payload) -> None:
        result = await self._client.export("traces", payload.data)
        rejected = min(result.rejected, payload.count)
        self._t.exporter_sent.labels(self._id).inc(payload.count - rejected)
        if rejected:
            self._t.exporter_dropped.labels(self._id, "partial_success").inc(rejected)
        if rejected or result.message:
            self._warn.warning(
                "partial-traces",
                "exporter %s: server rejected %d of %d spans: %s",
                self._id,
                rejected,
                payload.count,
                result.message or "(no message)",
            )

    # -- metrics -----------------------------------------------------------------------------

    async def _metrics_loop(self) -> None:
        interval = float(self._cfg.metrics.interval)
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), interval)
            if self._closing.is_set():
                return  # shutdown sends the last collection itself, after the trace queue drained
            try:
                await self._export_metrics(deadline=time.monotonic() + interval, final=False)
            except Exception:  # one bad collection never stops the next ones
                log.exception("exporter %s: unexpected error exporting metrics", self._id)

    async def _export_metrics(self, *, deadline: float, final: bool) -> None:
        assert self._aggregator is not None
        request = self._aggregator.collect(time.time_ns())
        if self._unsent is not None:
            # Only delta keeps points aside (cumulative ones are in every later collection).
            if request is not None:
                self._unsent.MergeFrom(request)
            request, self._unsent = self._unsent, None
        if request is None:
            return
        points = sum(
            len(m.histogram.data_points)
            for rm in request.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        )
        body = self._client.body(request)
        rejected = await self._send_metrics(body, deadline, final)
        counter = self._t.exporter_metric_points
        if rejected == _INTERRUPTED:
            if self._cfg.metrics.temporality == "delta":
                self._unsent = request  # the final send takes these points along
            return
        if rejected == _GAVE_UP:
            counter.labels(self._id, "failed").inc(points)
            return
        rejected = min(rejected, points)
        counter.labels(self._id, "sent").inc(points - rejected)
        if rejected:
            counter.labels(self._id, "rejected").inc(rejected)

    async def _send_metrics(self, body: Body, deadline: float, final: bool) -> int:
        """The number of points the server rejected, or _GAVE_UP, or _INTERRUPTED when shutdown
        cut the retries of a regular (not final) send short."""
        backoff = Backoff(self._cfg.retry_on_failure)
        target = self._client.target("metrics")
        while True:
            try:
                result = await self._client.export("metrics", body)
            except PermanentError as exc:
                self._warn.warning("metrics-permanent", "exporter %s: dropping metrics: %s", self._id, exc)
                return _GAVE_UP
            except RetryableError as exc:
                delay = backoff.next_delay(exc.retry_after)
                if backoff.gives_up(delay, deadline=deadline):
                    self._warn.warning(
                        "metrics-giveup", "exporter %s: giving up on metrics for %s: %s", self._id, target, exc
                    )
                    return _GAVE_UP
                self._t.exporter_retries.labels(self._id).inc()
                if final:
                    await asyncio.sleep(delay)
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._closing.wait(), delay)
                    if self._closing.is_set():
                        return _INTERRUPTED
                continue
            if result.rejected or result.message:
                self._warn.warning(
                    "partial-metrics",
                    "exporter %s: server rejected %d metric data points: %s",
                    self._id,
                    result.rejected,
                    result.message or "(no message)",
                )
            return result.rejected


# _send_metrics outcomes besides a rejected count (which is never negative).
_GAVE_UP = -1
_INTERRUPTED = -2


def _create(settings: CreateSettings, cfg: OtlpExporterConfig) -> OtlpExporter:
    return OtlpExporter(settings, cfg)


FACTORY = exporter_factory(
    "otlp",
    OtlpExporterConfig,
    _create,
    "Sends records as OTLP GenAI spans and gen_ai.client metrics (gRPC, HTTP protobuf or JSON).",
)
