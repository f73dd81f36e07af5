"""What every exporter shares: its common settings, retry with backoff, and a bounded queue.

:class:`SenderConfig` declares the settings of every network exporter (headers, TLS, timeout,
retry, queue); each exporter applies ``timeout`` to its own client (an aiohttp session or a gRPC
call). :class:`Backoff` is the one retry schedule.

An exporter implements two functions: ``encode(batch)``, which translates a batch into the
payloads (requests) to send, and the coroutine ``send(payload)``, which transmits one of them
and raises :class:`~gateway.errors.PermanentError` (drop and count, never retry) or
:class:`~gateway.errors.RetryableError` (retry with exponential backoff and jitter, honouring
``retry_after``). A batch is encoded once; a retry resends only the payloads not yet accepted,
so a batch split into several requests never duplicates the ones that got through.
:class:`ExporterHelper` wraps them:

* ``consume`` puts the batch on the bounded queue and returns at once; a full queue raises
  :class:`~gateway.errors.Overloaded`, which receivers turn into 429/503 + ``Retry-After``.
  With the queue disabled, ``consume`` sends in the caller's task (the client waits); a caller
  that sets :data:`REPORT_FAILURES` gets the error of a batch given up on.
* ``num_consumers`` workers take batches off the queue and send them with retries.
* ``shutdown`` stops intake, drains the queue until the service's deadline, and stops retrying.
* Scores and ratings reach ``encode`` only when the exporter says it takes them
  (``takes_scores``, ``takes_ratings``); otherwise ``consume`` drops them and counts them in
  ``gateway_exporter_dropped_items_total{reason="unsupported"}``, never an error for the client.

YAML (keys and defaults as the Collector's exporterhelper)::

    timeout: 5s
    retry_on_failure: {enabled: true, initial_interval: 5s, max_interval: 30s, max_elapsed_time: 300s}
    sending_queue: {enabled: true, num_consumers: 10, queue_size: 1000, sizer: requests}
    dead_letter: {path: "", max_bytes: 104857600}

Delivery guarantees the helper keeps (docs/operations.md, "Delivery"):

* A persistent queue that cannot write (disk full, I/O error) makes ``consume`` raise a
  :class:`~gateway.errors.RetryableError` (503 + ``Retry-After``; nothing was acknowledged), and
  intake resumes by itself once a write succeeds again.
* Workers never die silently: an unexpected error is logged, counted in
  ``gateway_exporter_worker_restarts`` and the worker carries on after a pause; a worker task that
  ends anyway is replaced.
* What is given up on (permanent refusal, unencodable, retries exhausted) goes to the
  exporter's dead-letter file when ``dead_letter.path`` is set (:mod:`._dead_letter`), for
  ``gateway replay``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from gateway.component import CreateSettings
from gateway.errors import BadInput, Overloaded, PermanentError, RetryableError
from gateway.exporters._dead_letter import DeadLetter, DeadLetterConfig
from gateway.exporters._queue import (
    Entry,
    MemoryQueue,
    PersistentQueue,
    QueueFull,
    QueueUnavailable,
    SendingQueue,
    Sizer,
)
from gateway.exporters._transport import TlsConfig
from gateway.model import Batch
from gateway.telemetry import RateLimitedLog
from gateway.units import Duration

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 5.0
DEFAULT_INITIAL_INTERVAL = 5.0
DEFAULT_MAX_INTERVAL = 30.0
DEFAULT_MAX_ELAPSED = 300.0
DEFAULT_MULTIPLIER = 1.5
DEFAULT_RANDOMIZATION = 0.5
DEFAULT_QUEUE_SIZE = 1000
DEFAULT_SIZER: Sizer = "requests"
DEFAULT_NUM_CONSUMERS = 10
QUEUE_FULL_RETRY_AFTER = 1.0
STORAGE_RETRY_AFTER = 5.0  # Retry-After while a persistent queue cannot write, seconds
WORKER_RESTART_DELAY = 0.5  # first pause of a worker after an unexpected error, seconds
WORKER_RESTART_MAX_DELAY = 30.0  # cap on that pause as failures repeat, seconds

# Set by a caller that must learn whether an unqueued send was given up on (the nats receiver
# acknowledges a message only after delivery): with the queue disabled, ``consume`` then raises
# the error that ended the send instead of returning, as the Collector's exporterhelper does.
REPORT_FAILURES: contextvars.ContextVar[bool] = contextvars.ContextVar("report_failures", default=False)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RetryConfig:
    enabled: bool = True  # retry retryable failures at all
    initial_interval: Duration = Duration(DEFAULT_INITIAL_INTERVAL)  # first backoff, seconds
    max_interval: Duration = Duration(DEFAULT_MAX_INTERVAL)  # cap on one backoff, seconds
    max_elapsed_time: Duration = Duration(DEFAULT_MAX_ELAPSED)  # give up after; 0 = never
    multiplier: float = DEFAULT_MULTIPLIER  # backoff growth per attempt
    randomization_factor: float = DEFAULT_RANDOMIZATION  # jitter: ±factor of the interval

    def validate(self) -> list[str]:
        problems = []
        if self.initial_interval <= 0:
            problems.append("initial_interval: must be greater than 0")
        if self.max_interval < self.initial_interval:
            problems.append("max_interval: must not be less than initial_interval")
        if self.multiplier < 1:
            problems.append("multiplier: must be at least 1")
        if not 0 <= self.randomization_factor <= 1:
            problems.append("randomization_factor: must be between 0 and 1")
        return problems


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class QueueConfig:
    enabled: bool = True  # off: the client waits for the send
    num_consumers: int = DEFAULT_NUM_CONSUMERS  # concurrent senders
    queue_size: int = DEFAULT_QUEUE_SIZE  # capacity in the sizer's unit; intake is refused past it
    sizer: Sizer = DEFAULT_SIZER  # what queue_size counts: requests (batches), items or bytes
    storage: str = ""  # directory for a persistent (SQLite) queue; in memory when empty

    def validate(self) -> list[str]:
        problems = []
        if self.num_consumers < 1:
            problems.append("num_consumers: must be at least 1")
        if self.queue_size < 1:
            problems.append("queue_size: must be at least 1")
        if self.storage and not self.enabled:
            problems.append("storage: needs the queue enabled")
        return problems


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SenderConfig:
    """The settings every network exporter shares, declared and validated once here; an
    exporter's config class extends it (call ``SenderConfig.validate(self)`` from its own)."""

    headers: dict[str, str] = dataclasses.field(default_factory=dict)  # extra request headers
    tls: TlsConfig = dataclasses.field(default_factory=TlsConfig)
    timeout: Duration = Duration(DEFAULT_TIMEOUT)  # per request, seconds
    retry_on_failure: RetryConfig = dataclasses.field(default_factory=RetryConfig)
    sending_queue: QueueConfig = dataclasses.field(default_factory=QueueConfig)
    dead_letter: DeadLetterConfig = dataclasses.field(default_factory=DeadLetterConfig)

    def validate(self) -> list[str]:
        return [] if self.timeout > 0 else ["timeout: must be greater than 0"]


class Backoff:
    """The one retry schedule of every exporter path: exponential backoff with jitter, a
    server's ``retry_after`` honoured, given up after ``max_elapsed_time`` or a deadline."""

    def __init__(self, cfg: RetryConfig) -> None:
        self._cfg = cfg
        self._interval = float(cfg.initial_interval)
        self._start = time.monotonic()

    def next_delay(self, retry_after: float | None) -> float:
        """The wait before the next attempt (and the schedule moves on)."""
        interval = self._interval
        self._interval = min(interval * self._cfg.multiplier, float(self._cfg.max_interval))
        if retry_after is not None and retry_after >= 0:
            return retry_after
        jitter = self._cfg.randomization_factor * interval
        return max(0.0, interval + random.uniform(-jitter, jitter))

    def gives_up(self, delay: float, *, deadline: float | None = None) -> bool:
        """True when waiting ``delay`` more would pass ``max_elapsed_time`` (0: never) or the
        ``deadline`` (monotonic seconds), or retries are off."""
        cfg = self._cfg
        now = time.monotonic()
        max_elapsed = float(cfg.max_elapsed_time)
        return (
            not cfg.enabled
            or (max_elapsed > 0 and now - self._start + delay > max_elapsed)
            or (deadline is not None and now + delay > deadline)
        )


@dataclasses.dataclass(slots=True)
class Payload:
    """One request to send: ``count`` records' worth of ``data`` (whatever send() takes)."""

    count: int
    data: Any


class ExporterHelper:
    """Queue + retry around one ``send`` coroutine (see the module docstring)."""

    def __init__(
        self,
        settings: CreateSettings,
        encode: Callable[[Batch], Sequence[Payload]],
        send: Callable[[Payload], Awaitable[None]],
        *,
        retry: RetryConfig,
        queue: QueueConfig,
        takes_scores: bool = False,
        takes_ratings: bool = False,
        dead_letter: DeadLetterConfig | None = None,
    ) -> None:
        self._id = str(settings.id)
        self._t = settings.telemetry
        self._takes_scores = takes_scores
        self._takes_ratings = takes_ratings
        self._encode = encode
        self._send = send
        self._retry = retry
        self._queue_cfg = queue
        self._dead_letter = DeadLetter(dead_letter, self._id) if dead_letter and dead_letter.path else None
        self._queue: SendingQueue | None = None
        self._in_flight = 0
        self._sending: set[Entry] = set()  # entries the workers are sending (memory held)
        self._cut_records = 0  # records whose send shutdown cut short (in-memory queue: lost)
        self._workers: list[asyncio.Task[None]] = []
        self._closing = asyncio.Event()
        self._accepting = True
        self._warn = RateLimitedLog(log)
        self._t.exporter_queue_capacity.labels(self._id).set(queue.queue_size if queue.enabled else 0)
        self._last_progress = time.monotonic()
        self._t.stall_probes[self._id] = self.stalled_for
        self._t.memory_probes[self._id] = self.held_bytes

    def held_bytes(self) -> int:
        """Approximate bytes of the batches this exporter holds in memory: queued (in memory)
        and being sent; what the memory limiter counts."""
        queued = self._queue.held_bytes() if self._queue is not None else 0
        return queued + sum(e.held_bytes() for e in self._sending)

    def saturated(self) -> bool:
        """The queue is full: a new batch would be refused."""
        q = self._queue
        return q is not None and q.size() >= self._queue_cfg.queue_size

    def stalled_for(self) -> float:
        """Seconds since the queue last moved while it had work; 0 when idle."""
        if self._queue is None or (self._queue.size() == 0 and self._in_flight == 0):
            self._last_progress = time.monotonic()
            return 0.0
        return time.monotonic() - self._last_progress

    async def start(self) -> None:
        if self._queue_cfg.enabled and not self._workers:
            cfg = self._queue_cfg
            if cfg.storage:
                corrupt = self._t.exporter_failed.labels(self._id, "corrupt_queue_entry")
                errors = self._t.exporter_queue_errors
                self._queue = PersistentQueue(
                    cfg.storage,
                    self._id,
                    cfg.queue_size,
                    corrupt.inc,
                    on_error=lambda operation: errors.labels(self._id, operation).inc(),
                    sizer=cfg.sizer,
                )
            else:
                self._queue = MemoryQueue(cfg.queue_size, cfg.sizer)
            self._t.exporter_queue_size.labels(self._id).set(self._queue.size())
            self._workers = [self._spawn_worker(i) for i in range(cfg.num_consumers)]

    def _spawn_worker(self, i: int) -> asyncio.Task[None]:
        task = asyncio.create_task(self._worker(), name=f"{self._id}-sender-{i}")
        task.add_done_callback(lambda t: self._worker_ended(i, t))
        return task

    def _worker_ended(self, i: int, task: asyncio.Task[None]) -> None:
        """The supervisor: a worker that ends while the exporter runs is logged, counted and
        replaced (the loop in _worker should make this unreachable; this is the net under it)."""
        if self._closing.is_set() or task.cancelled() or task not in self._workers:
            return
        exc = task.exception()
        log.error("exporter %s: sender %d stopped unexpectedly (%r); restarting it", self._id, i, exc)
        self._t.exporter_worker_restarts.labels(self._id).inc()
        self._workers[self._workers.index(task)] = self._spawn_worker(i)

    async def consume(self, batch: Batch) -> None:
        batch = self._supported(batch)
        if not (len(batch) or batch.scores or batch.ratings):
            return
        if not self._accepting:
            raise Overloaded("exporter is shutting down", retry_after=QUEUE_FULL_RETRY_AFTER)
        if self._queue is None:
            await self._send_with_retry(batch, raise_failure=REPORT_FAILURES.get())
            return
        try:
            self._queue.put(batch)
        except QueueFull:
            raise Overloaded(f"sending queue of {self._id} is full", retry_after=QUEUE_FULL_RETRY_AFTER) from None
        except (TypeError, ValueError, OverflowError) as exc:
            # The batch cannot be written to the queue (the receivers' checks should prevent it):
            # the sender's data, refused before it is acknowledged, never a 500.
            raise BadInput(f"sending queue of {self._id} cannot store this batch: {exc}") from None
        except QueueUnavailable as exc:
            # Not Overloaded: receivers answer 503 (the gateway cannot store), not 429.
            raise RetryableError(
                f"sending queue of {self._id} cannot store data: {exc}", retry_after=STORAGE_RETRY_AFTER
            ) from None
        self._t.exporter_queue_size.labels(self._id).set(self._queue.size())

    def _supported(self, batch: Batch) -> Batch:
        """The batch without the scores and ratings this exporter has no place for (counted)."""
        scores = batch.scores if self._takes_scores else []
        ratings = batch.ratings if self._takes_ratings else []
        if len(scores) == len(batch.scores) and len(ratings) == len(batch.ratings):
            return batch
        for item, n in (("score", len(batch.scores) - len(scores)), ("rating", len(batch.ratings) - len(ratings))):
            if n:
                self._t.exporter_dropped_items.labels(self._id, item, "unsupported").inc(n)
        return batch.copy(scores=scores, ratings=ratings)

    async def _worker(self) -> None:
        failures = 0
        while not self._closing.is_set():
            try:
                await self._work_one()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:  # a worker never dies: log, count, pause, carry on
                failures += 1
                self._t.exporter_worker_restarts.labels(self._id).inc()
                log.exception("exporter %s: sender failed (%d in a row); carrying on", self._id, failures)
                delay = min(WORKER_RESTART_MAX_DELAY, WORKER_RESTART_DELAY * 2 ** min(failures - 1, 16))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), delay)

    async def _work_one(self) -> None:
        assert self._queue is not None
        entry = await self._queue.get()
        self._in_flight += 1
        self._sending.add(entry)
        try:
            finished = await self._send_with_retry(entry.batch)
        except asyncio.CancelledError:
            # Shutdown cut this send short: the entry stays queued if persistent, else it is lost
            # (counted by shutdown).
            if not isinstance(self._queue, PersistentQueue):
                self._cut_records += len(entry.batch)
            raise
        except Exception:  # one bad batch never kills the worker
            log.exception("exporter %s: unexpected error sending a batch", self._id)
            self._t.exporter_failed.labels(self._id, "internal_error").inc(len(entry.batch))
            self._queue.ack(entry)
        else:
            if finished:
                self._queue.ack(entry)
        finally:
            self._in_flight -= 1
            self._sending.discard(entry)
            self._t.exporter_queue_size.labels(self._id).set(self._queue.size())

    async def _send_with_retry(
        self, batch: Batch, *, parts: int = 0, parts_sent: int = 0, raise_failure: bool = False
    ) -> bool:
        """Sends a batch; False only when shutdown interrupted it and the persistent queue keeps
        it for the next start (the caller must not acknowledge it then). ``parts_sent`` of
        ``parts`` requests were accepted before (replay): skipped if it still splits the same.
        With ``raise_failure`` a batch given up on raises its error once it is counted."""
        self._t.batch_size.labels(self._id).observe(len(batch))
        try:
            payloads = list(self._encode(batch))
        except PermanentError as exc:
            self._warn.warning("encode", "exporter %s: cannot encode batch: %s", self._id, exc)
            self._t.exporter_failed.labels(self._id, "encode").inc(len(batch))
            await self._give_up(batch, "encode", exc, parts=0, parts_sent=0)
            if raise_failure:
                raise
            return True
        start = parts_sent if parts and len(payloads) == parts else 0
        for i, payload in enumerate(payloads[start:], start):
            outcome, error = await self._send_one(payload)
            if outcome == "interrupted":
                return False
            if outcome != "sent":
                rest = sum(p.count for p in payloads[i + 1 :])
                if rest:
                    self._t.exporter_failed.labels(self._id, "previous_part_failed").inc(rest)
                assert error is not None
                await self._give_up(batch, outcome, error, parts=len(payloads), parts_sent=i)
                if raise_failure:
                    raise error
                return True
        return True

    async def _give_up(self, batch: Batch, reason: str, error: Exception, *, parts: int, parts_sent: int) -> None:
        """Keeps a batch given up on in the dead-letter file, if there is one (counted)."""
        if self._dead_letter is None or reason == "shutdown":
            return
        written = await asyncio.to_thread(
            self._dead_letter.write, batch, reason=reason, error=str(error), parts=parts, parts_sent=parts_sent
        )
        self._t.exporter_dead_letter.labels(self._id, written or reason).inc(len(batch))

    async def send_now(self, batch: Batch, *, parts: int = 0, parts_sent: int = 0) -> None:
        """Sends a batch in the caller's task, bypassing the queue (``gateway replay``); what
        fails again is given up on as usual (dead-lettered, counted)."""
        await self._send_with_retry(self._supported(batch), parts=parts, parts_sent=parts_sent)

    async def _send_one(
        self, payload: Payload
    ) -> tuple[Literal["sent", "permanent", "retries_exhausted", "shutdown", "interrupted"], Exception | None]:
        """Sends one payload with retries, and the error it was given up on for. "permanent",
        "retries_exhausted", "shutdown": given up on, and counted; "interrupted":
        shutdown stopped the retries and the persistent queue keeps the batch for the next start
        (a send cut short at the deadline can surface as an RPC error, not a cancellation)."""
        n = payload.count
        backoff = Backoff(self._retry)
        while True:
            try:
                await self._send(payload)
                self._last_progress = time.monotonic()
                return "sent", None
            except PermanentError as exc:
                self._last_progress = time.monotonic()
                self._warn.warning("permanent", "exporter %s: dropping %d records: %s", self._id, n, exc)
                self._t.exporter_failed.labels(self._id, "permanent").inc(n)
                return "permanent", exc
            except RetryableError as exc:
                delay = backoff.next_delay(exc.retry_after)
                give_up = backoff.gives_up(delay) or self._closing.is_set()
                if give_up and self._closing.is_set() and isinstance(self._queue, PersistentQueue):
                    return "interrupted", exc
                if give_up:
                    reason: Literal["shutdown", "retries_exhausted"] = (
                        "shutdown" if self._closing.is_set() else "retries_exhausted"
                    )
                    self._warn.warning(
                        "giveup", "exporter %s: giving up on %d records (%s): %s", self._id, n, reason, exc
                    )
                    self._t.exporter_failed.labels(self._id, reason).inc(n)
                    return reason, exc
                self._t.exporter_retries.labels(self._id).inc()
                self._warn.warning("retry", "exporter %s: retrying in %.2fs after: %s", self._id, delay, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), delay)

    async def shutdown(self) -> None:
        """Stops intake and drains the queue; the service bounds this with its deadline.

        At the deadline the service cancels the drain: waiting backoffs stop, workers are
        cancelled, and what is left stays on disk (persistent queue) or is counted as lost."""
        self._accepting = False
        queue = self._queue
        if queue is None or not self._workers:
            return
        try:
            while queue.size() > 0 or self._in_flight > 0:
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            self._closing.set()
            raise
        finally:
            self._closing.set()
            # A send that was cut short may surface as an RPC error instead of a cancellation,
            # so cancel until every worker has really stopped (each checks _closing per entry).
            pending = set(self._workers)
            while pending:
                for w in pending:
                    w.cancel()
                _, pending = await asyncio.wait(pending, timeout=0.1)
            self._workers = []
            left = queue.size()
            if left and isinstance(queue, PersistentQueue):
                log.warning("exporter %s: %d batches left in %s for the next start", self._id, left, queue.path)
            elif not isinstance(queue, PersistentQueue):
                # Sends the cut stopped: an in-memory queue no longer holds those batches.
                lost = self._cut_records
                while queue.size():
                    lost += len((await queue.get()).batch)
                if lost:
                    log.warning(
                        "exporter %s: %d acknowledged records not sent before shutdown (lost; a persistent "
                        "queue would keep them)",
                        self._id,
                        lost,
                    )
                    self._t.exporter_failed.labels(self._id, "shutdown").inc(lost)
            queue.close()
