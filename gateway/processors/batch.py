"""``batch`` processor: groups records into larger batches before the exporters.

A batch is sent when it reaches ``send_batch_size`` records, ``send_batch_max_bytes`` bytes, or
when ``timeout`` has passed since its first record; no batch sent on is larger than
``send_batch_max_size`` records or ``send_batch_max_bytes`` bytes (0: no cap; bytes are
approximate, see :mod:`gateway.sizing`, and a single record above the cap goes alone). Batches
are kept apart per tenant (so a forwarded ``X-Scope-OrgID`` stays right) and per value of each
``metadata_keys`` entry (request headers the receiver kept); past
``metadata_cardinality_limit`` distinct keys, new keys are refused with a retryable error.
Shutdown flushes everything. The buffer is bounded by ``max_buffered_records``: past it the
processor refuses intake (429 / RESOURCE_EXHAUSTED at the receiver) instead of growing. Scores
and ratings are buffered beside the records and count toward these sizes like records; they
leave with a batch's last records.

With ``acknowledge: export`` (the default) a request is answered once the batch holding its
records has been handed to the exporters: queued, or on disk with a persistent queue, so a 2xx
still means what it means without ``batch``, and a refusal downstream (a full queue, a disk that
cannot be written) reaches the client as its retryable error instead of being lost. A request
waits at most ``timeout`` for that. With ``acknowledge: buffer`` the client's 2xx comes when its
records are buffered here, before export: faster, but what the exporters refuse afterwards is only
counted (``export_refused``), and the gateway refuses it in front of a persistent queue. Either
way, put processors that must refuse a request (``auth``, ``memory_limiter``) before ``batch``.

.. code-block:: yaml

    processors:
      batch:
        send_batch_size: 512
        timeout: 200ms
        metadata_keys: [x-team]
        acknowledge: export     # export | buffer
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import Literal

from gateway.component import Capabilities, Consumer, CreateSettings, processor_factory
from gateway.errors import ConsumeError, Overloaded
from gateway.model import Batch, Context, Native, Rating, Record, Score
from gateway.sizing import batch_bytes, record_bytes
from gateway.telemetry import RateLimitedLog
from gateway.units import ByteSize, Duration

log = logging.getLogger(__name__)

DEFAULT_SEND_BATCH_SIZE = 8192
DEFAULT_TIMEOUT = 0.2
DEFAULT_CARDINALITY_LIMIT = 1000
DEFAULT_MAX_BUFFERED = 100_000
DEFAULT_ACKNOWLEDGE: Literal["export", "buffer"] = "export"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class BatchConfig:
    send_batch_size: int = DEFAULT_SEND_BATCH_SIZE  # records that trigger a send
    send_batch_max_size: int = 0  # upper bound of one sent batch; 0 = no cap
    send_batch_max_bytes: ByteSize = ByteSize(0)  # upper bound of one sent batch in bytes (approximate); 0 = no cap
    timeout: Duration = Duration(DEFAULT_TIMEOUT)  # max wait after a batch's first record
    metadata_keys: list[str] = dataclasses.field(default_factory=list)  # headers that split batches
    metadata_cardinality_limit: int = DEFAULT_CARDINALITY_LIMIT  # distinct key combinations kept
    max_buffered_records: int = DEFAULT_MAX_BUFFERED  # intake is refused beyond this
    # buffer: a refusal after the answer is only counted
    acknowledge: Literal["export", "buffer"] = DEFAULT_ACKNOWLEDGE  # answer once handed to exporters, or once buffered

    def validate(self) -> list[str]:
        problems = []
        if self.send_batch_size < 1:
            problems.append("send_batch_size: must be at least 1")
        if self.send_batch_max_size and self.send_batch_max_size < self.send_batch_size:
            problems.append("send_batch_max_size: must be 0 or at least send_batch_size")
        if self.timeout <= 0:
            problems.append("timeout: must be greater than 0")
        if self.send_batch_max_bytes < 0:
            problems.append("send_batch_max_bytes: must be 0 or more")
        if self.metadata_cardinality_limit < 1:
            problems.append("metadata_cardinality_limit: must be at least 1")
        if self.max_buffered_records < self.send_batch_size:
            problems.append("max_buffered_records: must be at least send_batch_size")
        return problems


@dataclasses.dataclass
class _Pending:
    context: Context
    records: list[Record] = dataclasses.field(default_factory=list)
    # Batches that arrived as natives of one kind, kept so while no records are pending (a
    # same-format pass-through stays one through the batch processor).
    natives: list[Native] = dataclasses.field(default_factory=list)
    scores: list[Score] = dataclasses.field(default_factory=list)
    ratings: list[Rating] = dataclasses.field(default_factory=list)
    timer: asyncio.TimerHandle | None = None
    # Requests waiting for this batch to be handed on (acknowledge: export).
    waiters: list[asyncio.Future[None]] = dataclasses.field(default_factory=list)
    bytes: int = 0  # approximate, counted only with send_batch_max_bytes

    def size(self) -> int:
        # Scores and ratings count like records: each is one item to buffer and send.
        return len(self.records) + sum(len(n) for n in self.natives) + len(self.scores) + len(self.ratings)

    def add(self, batch: Batch) -> None:
        native = batch.native
        if native is not None and not self.records and all(n.kind == native.kind for n in self.natives):
            self.natives.append(native)
        else:
            for n in self.natives:  # a mix: everything as records, in arrival order
                self.records.extend(n.materialize())
            self.natives.clear()
            self.records.extend(batch.records)
        self.scores.extend(batch.scores)
        self.ratings.extend(batch.ratings)


class BatchProcessor:
    capabilities = Capabilities(passes_native=True)  # groups natives of one kind without reading them

    def __init__(self, settings: CreateSettings, cfg: BatchConfig, next_: Consumer) -> None:
        self._cfg = cfg
        self._next = next_
        self._id = str(settings.id)
        self._pipeline = settings.pipeline
        self._t = settings.telemetry
        self._pending: dict[tuple[str, ...], _Pending] = {}
        self._buffered = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._warn = RateLimitedLog(log)
        self._keys = tuple(k.lower() for k in cfg.metadata_keys)

    async def start(self) -> None:
        return None

    def _key(self, ctx: Context) -> tuple[str, ...]:
        return (ctx.tenant, str(ctx.tenant_is_default), *(ctx.headers.get(k, "") for k in self._keys))

    async def consume(self, batch: Batch) -> None:
        if self._closed:
            raise Overloaded("batch processor is shutting down", retry_after=1.0)
        n = len(batch) + len(batch.scores) + len(batch.ratings)
        if self._buffered + n > self._cfg.max_buffered_records:
            raise Overloaded(f"batch processor {self._id} buffer is full", retry_after=1.0)
        key = self._key(batch.context)
        pending = self._pending.get(key)
        if pending is None:
            if len(self._pending) >= self._cfg.metadata_cardinality_limit:
                raise Overloaded(
                    f"batch processor {self._id}: too many distinct metadata key combinations",
                    retry_after=1.0,
                )
            ctx = batch.context
            # The kept context names only what the key shares; credentials stay with requests.
            pending = _Pending(
                Context(
                    receiver=ctx.receiver,
                    transport=ctx.transport,
                    tenant=ctx.tenant,
                    tenant_is_default=ctx.tenant_is_default,
                    headers={k: ctx.headers[k] for k in self._keys if k in ctx.headers},
                )
            )
            self._pending[key] = pending
            loop = asyncio.get_running_loop()
            pending.timer = loop.call_later(float(self._cfg.timeout), self._flush_later, key)
        pending.add(batch)
        self._buffered += n
        cap = self._cfg.send_batch_max_bytes
        if cap:
            pending.bytes += batch_bytes(batch)
        waiter: asyncio.Future[None] | None = None
        if self._cfg.acknowledge == "export":
            waiter = asyncio.get_running_loop().create_future()
            # Read the outcome even when the client went away, so it is never reported as lost.
            waiter.add_done_callback(lambda f: f.cancelled() or f.exception())
            pending.waiters.append(waiter)
        if pending.size() >= self._cfg.send_batch_size or (cap and pending.bytes >= cap):
            self._flush_later(key)
        if waiter is not None:
            # Shielded: a client that goes away does not take its records out of the batch.
            await asyncio.shield(waiter)

    def _flush_later(self, key: tuple[str, ...]) -> None:
        pending = self._pending.pop(key, None)
        if pending is None:
            return
        if pending.timer is not None:
            pending.timer.cancel()
        task = asyncio.get_running_loop().create_task(self._send(pending))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _chunks(self, pending: _Pending) -> list[Batch]:
        size = self._cfg.send_batch_max_size
        cap = int(self._cfg.send_batch_max_bytes)
        if pending.natives:
            first, rest = pending.natives[0], pending.natives[1:]
            native = first.join(rest) if rest else first
            if cap and pending.bytes > cap:
                # Natives are not sized one by one: split evenly to stay under the cap on average.
                per_item = max(1, pending.bytes // max(1, len(native)))
                by_bytes = max(1, cap // per_item)
                size = min(size, by_bytes) if size else by_bytes
            parts = native.chunks(size) if size and len(native) > size else [native]
            return [Batch(None, pending.context, native=part) for part in parts]
        records = pending.records
        if cap and pending.bytes > cap:
            return [Batch(group, pending.context) for group in self._groups_by_bytes(records, size, cap)]
        if not size or len(records) <= size:
            return [Batch(records, pending.context)]
        return [Batch(records[i : i + size], pending.context) for i in range(0, len(records), size)]

    @staticmethod
    def _groups_by_bytes(records: list[Record], size: int, cap: int) -> list[list[Record]]:
        groups: list[list[Record]] = []
        current: list[Record] = []
        used = 0
        for r in records:
            n = record_bytes(r)
            if current and (used + n > cap or (size and len(current) >= size)):
                groups.append(current)
                current, used = [], 0
            current.append(r)
            used += n
        if current:
            groups.append(current)
        return groups

    async def _send(self, pending: _Pending) -> None:
        chunks = self._chunks(pending)
        refusal: ConsumeError | None = None
        try:
            for i, batch in enumerate(chunks):
                if i == len(chunks) - 1:
                    # Scores ride with the last records, so no exporter sends a score before
                    # the generation it scores (backends reject a score for an unknown generation).
                    batch.scores, batch.ratings = pending.scores, pending.ratings
                n = len(batch) + len(batch.scores) + len(batch.ratings)
                try:
                    await self._next.consume(batch)
                except ConsumeError as exc:
                    refusal = refusal or exc
                    if pending.waiters:
                        continue  # the waiting clients get the refusal and retry
                    # The client already has its 2xx; all that is left is to count the loss.
                    self._t.processor_dropped.labels(self._id, self._pipeline, "export_refused").inc(n)
                    self._warn.warning("refused", "batch %s: next consumer refused %d items: %s", self._id, n, exc)
        except BaseException as exc:
            refusal = refusal or ConsumeError(f"batch {self._id}: could not hand the batch on: {exc!r}")
            raise
        finally:
            self._buffered -= pending.size()
            for waiter in pending.waiters:
                if waiter.done():
                    continue
                if refusal is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(refusal)

    async def shutdown(self) -> None:
        self._closed = True
        for key in list(self._pending):
            self._flush_later(key)
        while self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.gather(*list(self._tasks))


def _create(settings: CreateSettings, cfg: BatchConfig, next_: Consumer) -> BatchProcessor:
    return BatchProcessor(settings, cfg, next_)


FACTORY = processor_factory("batch", BatchConfig, _create, "Groups records into larger batches.")
