"""The gateway's own metrics (Prometheus) and rate-limited logging.

One :class:`Telemetry` per running service owns a private ``CollectorRegistry``, so several
gateways can run in one process (tests) without clashing. Metric names follow the Collector's
spirit: ``gateway_<kind>_<what>_total{<kind>="<id>"}``; see ``docs/operations.md``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 250, 500, 1000, 2000, 5000)


class Telemetry:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
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
        self.exporter_queue_size = Gauge(
            "gateway_exporter_queue_size", "Batches waiting in the sending queue.", ["exporter"], registry=r
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

        # Progress probes of exporter queues, read by /readyz: name -> seconds since the queue
        # last made progress while it had work (0 when idle or moving).
        self.stall_probes: dict[str, Callable[[], float]] = {}

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class RateLimitedLog:
    """Logs a warning at most once per ``interval`` seconds per key, counting the suppressed."""

    def __init__(self, logger: logging.Logger, interval: float = 10.0) -> None:
        self._logger = logger
        self._interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, key: str, msg: str, *args: object) -> None:
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        suppressed = self._suppressed.pop(key, 0)
        self._last[key] = now
        if suppressed:
            self._logger.warning(msg + " (%d similar suppressed)", *args, suppressed)
        else:
            self._logger.warning(msg, *args)
