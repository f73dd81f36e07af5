"""The gateway's own metrics (Prometheus) and rate-limited logging.

One :class:`Telemetry` per running service owns a private ``CollectorRegistry``, so several
gateways can run in one process (tests) without clashing. Metric names follow the Collector's
spirit: ``gateway_<kind>_<what>_total{<kind>="<id>"}``; see ``docs/operations.md`` (with the
table mapping them to the Collector's ``otelcol_*`` names).

With worker processes the supervisor points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory:
every worker's values live in memory-mapped files there, every metric gets a ``worker`` label,
and whichever worker answers a scrape serves the series of all of them. No ``_created``
series anywhere.
"""

from __future__ import annotations

import logging
import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from gateway import __version__

if TYPE_CHECKING:
    from gateway.component import Consumer
    from gateway.model import Batch

BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 250, 500, 1000, 2000, 5000)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
MAX_TENANTS = 100  # distinct tenant label values per process; later tenants count as "_other"
OTHER_TENANT = "_other"
_START = time.time()

prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

M = TypeVar("M", Counter, Gauge, Histogram)


class Telemetry:
    def __init__(self, worker: int | None = None) -> None:
        self.registry = CollectorRegistry()
        self._multiproc = os.environ.get(MULTIPROC_ENV, "") if worker is not None else ""
        self._worker = str(worker) if worker is not None else ""
        r = self.registry
        # Every metric below gets the worker label first when workers share the exposition.
        Counter = self._counter
        Gauge = self._gauge
        Histogram = self._histogram
        self.receiver_accepted = Counter(
            "gateway_receiver_accepted_records",
            "Records a receiver accepted and passed into its pipelines.",
            ["receiver", "transport"],
            registry=r,
        )
        self.receiver_refused = Counter(
            "gateway_receiver_refused_records",
            "Records a receiver refused (bad input, auth, overload), by reason.",
            ["receiver", "transport", "reason"],
            registry=r,
        )
        self.listener_cut = Counter(
            "gateway_listener_connections_cut",
            "HTTP connections a listener closed: max_connections reached, request headers too slow.",
            ["endpoint", "reason"],
            registry=r,
        )
        self.receiver_joins = Counter(
            "gateway_receiver_joins",
            "Items a receiver's join buffer (content arriving apart from its span) handled, by outcome.",
            ["receiver", "outcome"],
            registry=r,
        )
        self.receiver_request_duration = Histogram(
            "gateway_receiver_request_duration_seconds",
            "Time from request received to response, per receiver.",
            ["receiver", "transport"],
            registry=r,
        )
        self.processor_dropped = Counter(
            "gateway_processor_dropped_records",
            "Records a processor dropped on purpose, by reason.",
            ["processor", "pipeline", "reason"],
            registry=r,
        )
        self.redactions = Counter(
            "gateway_processor_redactions",
            "Values the redact processor replaced, by rule.",
            ["processor", "rule"],
            registry=r,
        )
        self.exporter_sent = Counter(
            "gateway_exporter_sent_records",
            "Records an exporter delivered and the backend accepted.",
            ["exporter"],
            registry=r,
        )
        self.exporter_failed = Counter(
            "gateway_exporter_send_failed_records",
            "Records an exporter gave up on (permanent error or retries exhausted), by reason.",
            ["exporter", "reason"],
            registry=r,
        )
        self.exporter_dropped = Counter(
            "gateway_exporter_dropped_records",
            "Records an exporter did not send because the target format cannot hold them, or the "
            "backend rejected them one by one, by reason.",
            ["exporter", "reason"],
            registry=r,
        )
        self.exporter_sent_items = Counter(
            "gateway_exporter_sent_items",
            "Scores and ratings an exporter delivered and the backend accepted, by item (score, rating).",
            ["exporter", "item"],
            registry=r,
        )
        self.exporter_dropped_items = Counter(
            "gateway_exporter_dropped_items",
            "Scores and ratings an exporter did not deliver, by item and reason: unsupported (the "
            "format has no place for them), rejected or conflict (the backend refused them one by one).",
            ["exporter", "item", "reason"],
            registry=r,
        )
        self.processor_evaluations = Counter(
            "gateway_processor_evaluations",
            "Evaluations the evaluate processor ran, by evaluator and outcome (passed, failed; "
            "scored: a judge score without a verdict), or why one gave no score (no_id: the record "
            "has no generation id; over_budget, queue_full, shutdown, no_provider, judge_error, "
            "judge_timeout, unparsable, score_refused: see docs/operations.md).",
            ["processor", "evaluator", "outcome"],
            registry=r,
        )
        self.judge_requests = Counter(
            "gateway_processor_judge_requests",
            "Judge calls the evaluate processor made, by provider and outcome (ok, error, timeout, "
            "retried: an attempt that failed and was tried again).",
            ["processor", "provider", "outcome"],
            registry=r,
        )
        self.judge_tokens = Counter(
            "gateway_processor_judge_tokens",
            "Tokens the judges used, by provider, model and type (input, output, cache_read).",
            ["processor", "provider", "model", "type"],
            registry=r,
        )
        self.judge_cost = Counter(
            "gateway_processor_judge_cost_usd",
            "What the judge calls cost in USD, where the bundled price table knows the model.",
            ["processor", "provider", "model"],
            registry=r,
        )
        self.judgments_pending = Gauge(
            "gateway_processor_judgments_pending",
            "llm_judge evaluations waiting for their judge.",
            ["processor"],
            registry=r,
        )
        self.exporter_retries = Counter(
            "gateway_exporter_retries",
            "Send attempts that failed with a retryable error and were retried.",
            ["exporter"],
            registry=r,
        )
        self.exporter_metric_points = Counter(
            "gateway_exporter_metric_points",
            "Metric data points an exporter made from records, by outcome (sent, failed, rejected).",
            ["exporter", "outcome"],
            registry=r,
        )
        self.exporter_queue_errors = Counter(
            "gateway_exporter_queue_errors",
            "Storage errors of a persistent sending queue (disk full, I/O error), by operation: put "
            "(the client was answered 503 + Retry-After), ack (retried later), get (retried later).",
            ["exporter", "operation"],
            registry=r,
        )
        self.exporter_worker_restarts = Counter(
            "gateway_exporter_worker_restarts",
            "Sending-queue workers that failed unexpectedly and were restarted after a pause.",
            ["exporter"],
            registry=r,
        )
        self.exporter_dead_letter = Counter(
            "gateway_exporter_dead_letter_records",
            "Records an exporter gave up on and wrote to its dead-letter file, by reason (permanent, "
            "encode, retries_exhausted); reason dead_letter_full or dead_letter_error: could not be "
            "written there either (lost, also counted in send_failed).",
            ["exporter", "reason"],
            registry=r,
        )
        self.memory_bytes = Gauge(
            "gateway_processor_memory_bytes",
            "What memory_limiter measured at its last check, by measure: held (bytes the exporters "
            "hold in memory, approximate) and process (resident memory after returning free pages).",
            ["processor", "measure"],
            registry=r,
        )
        self.exporter_queue_size = Gauge(
            "gateway_exporter_queue_size", "Sending queue use, in its sizer's unit.", ["exporter"], registry=r
        )
        self.exporter_queue_capacity = Gauge(
            "gateway_exporter_queue_capacity", "Capacity of the sending queue.", ["exporter"], registry=r
        )
        self.batch_size = Histogram(
            "gateway_exporter_batch_size_records",
            "Records per batch handed to an exporter.",
            ["exporter"],
            buckets=BATCH_SIZE_BUCKETS,
            registry=r,
        )

        self.receiver_ignored = Counter(
            "gateway_receiver_ignored_records",
            "Items a receiver answered as accepted but did not pass on, by reason: not_genai (spans "
            "without gen_ai.* attributes), duplicate (events already forwarded within the dedup window).",
            ["receiver", "transport", "reason"],
            registry=r,
        )
        self.pipeline_records = Counter(
            "gateway_pipeline_records",
            "Records leaving a pipeline's processors towards its exporters, by tenant (at most "
            f"{MAX_TENANTS} tenants per process, later ones as {OTHER_TENANT}).",
            ["pipeline", "tenant"],
            registry=r,
        )
        self.build_info = Gauge(
            "gateway_build_info", "Always 1; the labels say which build runs.", ["version", "python"], registry=r
        )
        self.build_info.labels(__version__, platform.python_version()).set(1)
        self.process_rss = Gauge("gateway_process_memory_rss_bytes", "Resident memory.", [], registry=r)
        self.process_cpu = Gauge("gateway_process_cpu_seconds", "CPU time used, user and system.", [], registry=r)
        self.process_uptime = Gauge("gateway_process_uptime_seconds", "Seconds since the start.", [], registry=r)
        self._tenants: set[str] = set()

        # Progress probes of exporter queues, read by /readyz: name -> seconds since the queue
        # last made progress while it had work (0 when idle or moving).
        self.stall_probes: dict[str, Callable[[], float]] = {}
        # Memory probes, read by memory_limiter: name -> approximate bytes that component holds
        # (exporter queues and sends in flight).
        self.memory_probes: dict[str, Callable[[], int]] = {}

    # -- metric construction: a `worker` label first when workers share the exposition --------

    def _with_worker(self, metric: M) -> M:
        if self._multiproc:
            bind = type(metric).labels
            worker = self._worker
            metric.labels = lambda *values: bind(metric, worker, *values)  # type: ignore[method-assign]
        return metric

    def _labels(self, labels: list[str]) -> list[str]:
        return ["worker", *labels] if self._multiproc else labels

    def _counter(self, name: str, doc: str, labels: list[str], *, registry: CollectorRegistry) -> Counter:
        return self._with_worker(Counter(name, doc, self._labels(labels), registry=registry))

    def _gauge(self, name: str, doc: str, labels: list[str], *, registry: CollectorRegistry) -> Gauge:
        gauge = Gauge(name, doc, self._labels(labels), registry=registry, multiprocess_mode="livesum")
        return self._with_worker(gauge)

    def _histogram(self, name: str, doc: str, labels: list[str], **kw: Any) -> Histogram:
        return self._with_worker(Histogram(name, doc, self._labels(labels), **kw))

    # -- values ---------------------------------------------------------------------------------

    def tenant(self, tenant: str) -> str:
        """The label value for ``tenant``: itself for the first MAX_TENANTS seen, then _other."""
        if tenant in self._tenants:
            return tenant
        if len(self._tenants) < MAX_TENANTS:
            self._tenants.add(tenant)
            return tenant
        return OTHER_TENANT

    def update_process(self) -> None:
        """Refreshes the process gauges (at each scrape, and every second from the health watch
        so other workers' values stay current in a shared exposition)."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        for gauge, value in (
            (self.process_rss, _rss_bytes(usage)),
            (self.process_cpu, usage.ru_utime + usage.ru_stime),
            (self.process_uptime, time.time() - _START),
        ):
            (gauge.labels() if self._multiproc else gauge).set(value)

    def exposition(self) -> bytes:
        self.update_process()
        if not self._multiproc:
            return generate_latest(self.registry)
        shared = CollectorRegistry()
        MultiProcessCollector(shared, path=self._multiproc)  # type: ignore[no-untyped-call]
        return generate_latest(shared)


class PipelineOutput:
    """Counts what leaves a pipeline's processors, per tenant (``gateway_pipeline_records``)."""

    def __init__(self, telemetry: Telemetry, pipeline: str, next_: Consumer) -> None:
        self._t = telemetry
        self._pipeline = pipeline
        self._next = next_

    async def consume(self, batch: Batch) -> None:
        await self._next.consume(batch)
        if len(batch):
            tenant = self._t.tenant(batch.context.tenant)
            self._t.pipeline_records.labels(self._pipeline, tenant).inc(len(batch))


def _rss_bytes(usage: resource.struct_rusage) -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: the peak, in bytes on macOS and KiB elsewhere
        return usage.ru_maxrss if sys.platform == "darwin" else usage.ru_maxrss * 1024


class RateLimitedLog:
    """Logs a warning at most once per ``interval`` seconds per key, counting the suppressed."""

    def __init__(self, logger: logging.Logger, interval: float = 10.0) -> None:
        self._logger = logger
        self._interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, key: str, msg: str, *args: object) -> None:
        self.log(logging.WARNING, key, msg, *args)

    def log(self, level: int, key: str, msg: str, *args: object, extra: dict[str, object] | None = None) -> None:
        if not self._logger.isEnabledFor(level):
            return
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        suppressed = self._suppressed.pop(key, 0)
        self._last[key] = now
        if suppressed:
            extra = {**(extra or {}), "suppressed": suppressed}
        self._logger.log(level, msg, *args, extra=extra)
