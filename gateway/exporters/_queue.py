"""Sending queues: bounded in memory, or persistent in SQLite.

Both hold whole batches (the unit a client was answered for) and hand them to the exporter's
workers in arrival order. An entry is removed (``ack``) only when the exporter is done with it:
delivered, or given up on for a reason that is counted. With the persistent queue that means a
batch is on disk before the receiver answers 2xx, and whatever was not acknowledged when the
process stopped (``kill -9`` included) is delivered after the restart.

The persistent queue is one SQLite database per exporter in the ``storage`` directory, in WAL
mode with ``synchronous=NORMAL``: a committed batch survives a crash of the process (it is in the
OS's page cache and the WAL), which is the failure this queue is for. A row that cannot be decoded
is moved to the ``dead`` table and counted, and a database file that cannot be opened is renamed
aside (``*.corrupt-<time>``) and replaced, so a bad entry never stops the gateway.

Storage errors (a full disk, an I/O error) never escape as anything but :class:`QueueUnavailable`
from ``put`` (the helper answers the client 503 + ``Retry-After``; nothing was acknowledged). An
``ack`` whose DELETE cannot be written is remembered in memory and retried on every later
operation, so the batch is not handed out again by this process and the workers carry on; if
the process dies before the DELETE lands, the batch is delivered again after the restart (at
least once). Reads that fail are retried by ``get`` after a pause. Each failure is reported
through ``on_error(operation)`` (a metric) and logged at most once in a while.
"""

from __future__ import annotations

import asyncio
import collections
import collections.abc
import dataclasses
import logging
import os
import re
import sqlite3
import time
from typing import Literal, Protocol

import orjson
from google.protobuf.message import DecodeError

from gateway import formats
from gateway.formats import record_json
from gateway.model import Batch, Context, Native, Rating, Record, Score
from gateway.sizing import batch_bytes
from gateway.telemetry import RateLimitedLog

log = logging.getLogger(__name__)


STORAGE_RETRY_INTERVAL = 1.0  # seconds between attempts to read a queue whose storage fails

# What a queue's capacity counts, as the Collector's exporterhelper ``sizer``: batches
# (requests), items (records, scores and ratings) or bytes (approximate in memory, see
# gateway.sizing; the stored size on disk).
Sizer = Literal["requests", "items", "bytes"]


def batch_items(batch: Batch) -> int:
    return len(batch) + len(batch.scores) + len(batch.ratings)


class QueueFull(Exception):
    pass


class QueueUnavailable(Exception):
    """The persistent queue cannot store a batch now (disk full, I/O error); may pass."""


@dataclasses.dataclass(slots=True, eq=False)  # identity: the helper keeps a set of them
class Entry:
    batch: Batch
    key: int = 0  # row id in the persistent queue; 0 in memory
    size: int = -1  # approximate bytes held in memory (gateway.sizing); -1 until first asked
    units: int = 1  # what it counts toward the queue's capacity (its sizer's unit)

    def held_bytes(self) -> int:
        if self.size < 0:
            self.size = batch_bytes(self.batch)
        return self.size


class SendingQueue(Protocol):
    def put(self, batch: Batch) -> None: ...

    async def get(self) -> Entry: ...

    def ack(self, entry: Entry) -> None: ...

    def size(self) -> int: ...

    def held_bytes(self) -> int: ...

    def close(self) -> None: ...


class MemoryQueue:
    """A bounded FIFO of batches: ``capacity`` in the ``sizer``'s unit. An empty queue takes
    any one batch, so a batch larger than the whole capacity is not refused for ever."""

    def __init__(self, capacity: int, sizer: Sizer = "requests") -> None:
        self._capacity = capacity
        self._sizer = sizer
        self._used = 0
        self._items: collections.deque[Entry] = collections.deque()
        self._ready = asyncio.Event()

    def put(self, batch: Batch) -> None:
        entry = Entry(batch)
        if self._sizer == "items":
            entry.units = batch_items(batch)
        elif self._sizer == "bytes":
            entry.units = entry.held_bytes()
        if self._items and self._used + entry.units > self._capacity:
            raise QueueFull
        self._items.append(entry)
        self._used += entry.units
        self._ready.set()

    async def get(self) -> Entry:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        entry = self._items.popleft()
        self._used -= entry.units
        return entry

    def ack(self, entry: Entry) -> None:
        return None

    def size(self) -> int:
        """What the waiting batches count, in the sizer's unit."""
        return self._used

    def held_bytes(self) -> int:
        """Approximate bytes of the batches waiting in memory."""
        return sum(e.held_bytes() for e in self._items)

    def close(self) -> None:
        return None


def encode_batch(batch: Batch) -> bytes:
    """A batch as stored on disk; credentials are not stored (exporters never need them)."""
    ctx = batch.context
    head: dict[str, object] = {
        "receiver": ctx.receiver,
        "transport": ctx.transport,
        "tenant": ctx.tenant,
        "headers": ctx.headers,
    }
    # Scores and ratings ride in the head line, and only when present, so that entries written
    # before they existed still decode.
    if ctx.tenant_is_default:
        head["tenant_is_default"] = True
    if batch.scores:
        head["scores"] = batch.scores
    if batch.ratings:
        head["ratings"] = batch.ratings
    native = batch.native
    # Natives whose format can read them back are stored as they are (see Batch.native).
    if native is not None and formats.native_decoder(native.kind) is not None:
        # A pass-through batch stays in its wire form on disk too (no records to build).
        head["native"] = native.kind
        return orjson.dumps(head) + b"\n" + native.to_bytes()
    return orjson.dumps(head) + b"\n" + record_json.dumps_lines(batch.records)


def decode_batch(data: bytes) -> Batch:
    """Inverse of :func:`encode_batch`; raises ValueError on anything malformed."""
    try:
        head, _, rest = data.partition(b"\n")
        ctx = orjson.loads(head)
        native: Native | None = None
        records: list[Record] | None = None
        if "native" in ctx:
            kind = str(ctx["native"])
            decoder = formats.native_decoder(kind)
            if decoder is None:
                raise ValueError(f"unknown native kind {kind!r}")
            native = decoder(rest)
        else:
            records = [record_json.from_dict(orjson.loads(line)) for line in rest.splitlines() if line]
        context = Context(
            receiver=str(ctx["receiver"]),
            transport=str(ctx["transport"]),
            tenant=str(ctx["tenant"]),
            tenant_is_default=bool(ctx.get("tenant_is_default", False)),
            headers=dict(ctx["headers"]),
        )
        scores = [record_json.build(Score, item) for item in ctx.get("scores", [])]
        ratings = [record_json.build(Rating, item) for item in ctx.get("ratings", [])]
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError, DecodeError) as exc:
        raise ValueError(f"corrupt queue entry: {exc}") from None
    return Batch(records, context, scores=scores, ratings=ratings, native=native)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT, added REAL NOT NULL, data BLOB NOT NULL, items INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS dead (id INTEGER PRIMARY KEY, added REAL NOT NULL, data BLOB NOT NULL, error TEXT NOT NULL);
"""


_UNITS_SQL: dict[str, str] = {"requests": "COUNT(*)", "items": "SUM(items)", "bytes": "SUM(length(data))"}


def db_path(directory: str, exporter_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.\-]", "_", exporter_id)
    return os.path.join(directory, f"{safe}.sqlite")


class PersistentQueue:
    """A bounded FIFO of batches in SQLite (see the module docstring)."""

    def __init__(
        self,
        directory: str,
        exporter_id: str,
        capacity: int,
        on_corrupt: collections.abc.Callable[[int], None],
        on_error: collections.abc.Callable[[str], None] = lambda operation: None,
        sizer: Sizer = "requests",
    ) -> None:
        os.makedirs(directory, exist_ok=True)
        self.path = db_path(directory, exporter_id)
        self._capacity = capacity
        self._sizer = sizer
        self._on_corrupt = on_corrupt
        self._on_error = on_error
        self._warn = RateLimitedLog(log)
        self._db = self._open()
        self._in_flight: set[int] = set()
        # Acknowledged rows whose DELETE could not be written yet (see the module docstring).
        self._unacked: set[int] = set()
        self._ready = asyncio.Event()
        self._count: int = int(self._db.execute("SELECT COUNT(*) FROM queue").fetchone()[0])
        self._used: int = int(self._db.execute(f"SELECT COALESCE({_UNITS_SQL[sizer]}, 0) FROM queue").fetchone()[0])
        if self._count:
            log.info("persistent queue %s: resuming with %d batches", self.path, self._count)

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            aside = f"{self.path}.corrupt-{int(time.time())}"
            log.error("persistent queue %s is unreadable (%s); moved aside to %s", self.path, exc, aside)
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(self.path + suffix):
                    os.replace(self.path + suffix, aside + suffix)
            self._on_corrupt(1)
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        db.execute("SELECT COUNT(*) FROM queue").fetchone()  # fails here on a corrupt file
        if "items" not in {row[1] for row in db.execute("PRAGMA table_info(queue)")}:
            db.execute("ALTER TABLE queue ADD COLUMN items INTEGER NOT NULL DEFAULT 1")  # a queue from before sizers
        return db

    def _failed(self, operation: str, exc: sqlite3.Error) -> None:
        self._on_error(operation)
        self._warn.warning(operation, "persistent queue %s: %s failed: %s", self.path, operation, exc)

    def _flush_acks(self) -> None:
        """Retries the DELETEs of acknowledged rows that could not be written before."""
        if not self._unacked:
            return
        keys = tuple(self._unacked)
        try:
            self._db.execute(f"DELETE FROM queue WHERE id IN ({','.join('?' * len(keys))})", keys)
        except sqlite3.Error as exc:
            self._failed("ack", exc)
            return
        self._unacked.difference_update(keys)
        log.info(
            "persistent queue %s: storage writable again; %d pending acknowledgements written", self.path, len(keys)
        )

    def _units(self, data: bytes, items: int) -> int:
        return items if self._sizer == "items" else len(data) if self._sizer == "bytes" else 1

    def put(self, batch: Batch) -> None:
        if self._sizer == "requests" and self._count >= self._capacity:
            raise QueueFull  # before encoding: a full queue costs nothing
        data = encode_batch(batch)
        items = batch_items(batch)
        units = self._units(data, items)
        if self._count and self._used + units > self._capacity:
            raise QueueFull
        self._flush_acks()
        try:
            self._db.execute("INSERT INTO queue (added, data, items) VALUES (?, ?, ?)", (time.time(), data, items))
        except sqlite3.Error as exc:
            self._failed("put", exc)
            raise QueueUnavailable(f"cannot write {self.path}: {exc}") from None
        self._count += 1
        self._used += units
        self._ready.set()

    def _next_row(self) -> tuple[int, bytes, int] | None:
        skip = tuple(self._in_flight | self._unacked)
        query = "SELECT id, data, items FROM queue"
        if skip:
            query += f" WHERE id NOT IN ({','.join('?' * len(skip))})"
        row = self._db.execute(query + " ORDER BY id LIMIT 1", skip).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]), int(row[2]))

    async def get(self) -> Entry:
        while True:
            self._flush_acks()
            try:
                row = self._next_row()
            except sqlite3.Error as exc:
                self._failed("get", exc)
                await asyncio.sleep(STORAGE_RETRY_INTERVAL)
                continue
            if row is None:
                self._ready.clear()
                await self._ready.wait()
                continue
            key, data, items = row
            units = self._units(data, items)
            try:
                batch = decode_batch(data)
            except ValueError as exc:
                log.error("persistent queue %s: entry %d moved to the dead table: %s", self.path, key, exc)
                self._set_aside(key, str(exc))
                self._count -= 1
                self._used -= units
                self._on_corrupt(1)
                continue
            self._in_flight.add(key)
            return Entry(batch, key, units=units)

    def _set_aside(self, key: int, error: str) -> None:
        try:
            self._db.execute(
                "INSERT INTO dead (id, added, data, error) SELECT id, added, data, ? FROM queue WHERE id = ?",
                (error, key),
            )
            self._db.execute("DELETE FROM queue WHERE id = ?", (key,))
        except sqlite3.Error as exc:
            # Left in the queue table and skipped in this process; decoded again after a restart.
            self._failed("ack", exc)
            self._unacked.add(key)

    def ack(self, entry: Entry) -> None:
        """Removes a finished entry; never raises (a failed DELETE is retried later)."""
        self._in_flight.discard(entry.key)
        self._count -= 1
        self._used -= entry.units
        self._flush_acks()
        try:
            self._db.execute("DELETE FROM queue WHERE id = ?", (entry.key,))
        except sqlite3.Error as exc:
            self._failed("ack", exc)
            self._unacked.add(entry.key)

    def size(self) -> int:
        """What the stored batches count (sent ones until acknowledged), in the sizer's unit."""
        return self._used

    def held_bytes(self) -> int:
        return 0  # waiting batches are on disk; those in flight the helper counts

    def close(self) -> None:
        self._db.close()
