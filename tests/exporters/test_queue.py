"""Sending queues: order, bounds, persistence across reopen, and corrupt data set aside."""

from __future__ import annotations

import asyncio
import pathlib
import sqlite3

import pytest

from gateway.component import ComponentId, CreateSettings
from gateway.config import load
from gateway.errors import Overloaded
from gateway.exporters._helper import ExporterHelper, Payload, RetryConfig
from gateway.exporters._queue import MemoryQueue, PersistentQueue, QueueFull, Sizer, decode_batch, encode_batch
from gateway.model import Batch, Context, Message, Part, PartKind, Record, Role, Usage
from gateway.sizing import batch_bytes
from gateway.telemetry import Telemetry


def _batch(n: int, tenant: str = "t") -> Batch:
    records = [
        Record(
            id=f"g{n}-{i}",
            input=[Message(Role.USER, [Part(PartKind.TOOL_CALL, tool_input_json=b'{"a":1}')])],
            usage=Usage(input_tokens=3),
            metadata={"k": [1, 2.5, None]},
        )
        for i in range(2)
    ]
    return Batch(records, Context(receiver="sigil", tenant=tenant, bearer_token="secret", headers={"x": "y"}))


def test_encode_decode_round_trip_drops_credentials() -> None:
    b = _batch(1)
    back = decode_batch(encode_batch(b))
    assert back.records == b.records
    assert (back.context.tenant, back.context.headers, back.context.bearer_token) == ("t", {"x": "y"}, "")


def test_bytes_in_extra_come_back_as_bytes() -> None:
    # extra's values are untyped: a bare base64 string could not be told from a string value.
    extra = {"otlp.attr.blob": b"\x00\xff", "nested": [{"b": b"x"}, "plain"], "look_alike": "AP8="}
    b = Batch([Record(id="g", extra=extra)], Context())
    back = decode_batch(encode_batch(b))
    assert back.records[0].extra == extra


@pytest.mark.parametrize("data", [b"", b"{}\n", b"not json", b'{"receiver":1}\n{"kind": 5}'])
def test_decode_rejects_garbage(data: bytes) -> None:
    with pytest.raises(ValueError, match="corrupt queue entry"):
        decode_batch(data)


async def test_memory_queue_bounds_and_order() -> None:
    q = MemoryQueue(2)
    q.put(_batch(1))
    q.put(_batch(2))
    with pytest.raises(QueueFull):
        q.put(_batch(3))
    assert (await q.get()).batch.records[0].id == "g1-0"
    assert q.size() == 1


async def test_persistent_queue_survives_reopen_and_acks(tmp_path: pathlib.Path) -> None:
    corrupt: list[int] = []
    q = PersistentQueue(str(tmp_path), "sigil/cloud", 10, corrupt.append)
    for n in range(3):
        q.put(_batch(n))
    first = await q.get()
    q.ack(first)
    second = await q.get()  # in flight, never acknowledged: the process "dies" here
    assert second.batch.records[0].id == "g1-0"
    q.close()
    q2 = PersistentQueue(str(tmp_path), "sigil/cloud", 10, corrupt.append)
    assert q2.size() == 2
    assert [(await q2.get()).batch.records[0].id for _ in range(2)] == ["g1-0", "g2-0"]
    assert corrupt == []
    q2.close()


async def test_persistent_queue_is_bounded(tmp_path: pathlib.Path) -> None:
    q = PersistentQueue(str(tmp_path), "e", 1, lambda n: None)
    q.put(_batch(1))
    with pytest.raises(QueueFull):
        q.put(_batch(2))
    q.close()


async def test_corrupt_entry_is_moved_aside(tmp_path: pathlib.Path) -> None:
    corrupt: list[int] = []
    q = PersistentQueue(str(tmp_path), "e", 10, corrupt.append)
    q.put(_batch(1))
    q.put(_batch(2))
    db = sqlite3.connect(q.path)
    db.execute("UPDATE queue SET data = ? WHERE id = (SELECT MIN(id) FROM queue)", (b"\xff garbage",))
    db.commit()
    db.close()
    entry = await q.get()
    assert entry.batch.records[0].id == "g2-0"
    assert corrupt == [1]
    assert q.size() == 1
    dead = sqlite3.connect(q.path).execute("SELECT COUNT(*) FROM dead").fetchone()[0]
    assert dead == 1
    q.close()


async def test_unreadable_database_file_is_replaced(tmp_path: pathlib.Path) -> None:
    corrupt: list[int] = []
    path = tmp_path / "e.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    q = PersistentQueue(str(tmp_path), "e", 10, corrupt.append)
    assert corrupt == [1] and q.size() == 0
    q.put(_batch(1))
    assert q.size() == 1
    assert list(tmp_path.glob("e.sqlite.corrupt-*"))
    q.close()


async def test_memory_queue_counts_items_with_the_items_sizer() -> None:
    q = MemoryQueue(3, "items")  # _batch gives 2 records each
    q.put(_batch(1))
    with pytest.raises(QueueFull):
        q.put(_batch(2))
    assert q.size() == 2
    await q.get()
    assert q.size() == 0
    q.put(_batch(3))


async def test_memory_queue_counts_bytes_with_the_bytes_sizer() -> None:
    one = batch_bytes(_batch(1))
    q = MemoryQueue(one + one // 2, "bytes")
    q.put(_batch(1))
    with pytest.raises(QueueFull):
        q.put(_batch(2))
    assert q.size() == one
    await q.get()
    big = Batch([Record(system_prompt="x" * (4 * one))], Context())
    q.put(big)  # an empty queue takes one batch larger than its capacity, or it would never pass
    with pytest.raises(QueueFull):
        q.put(_batch(4))


@pytest.mark.parametrize("sizer", ["items", "bytes"])
async def test_persistent_queue_sizers_count_and_survive_reopen(tmp_path: pathlib.Path, sizer: Sizer) -> None:
    stored = len(encode_batch(_batch(1)))
    unit = 2 if sizer == "items" else stored
    q = PersistentQueue(str(tmp_path), "e", 2 * unit, lambda n: None, sizer=sizer)
    q.put(_batch(1))
    q.put(_batch(2))
    with pytest.raises(QueueFull):
        q.put(_batch(3))
    assert q.size() == 2 * unit
    entry = await q.get()
    assert q.size() == 2 * unit  # still stored until acknowledged
    q.ack(entry)
    assert q.size() == unit
    q.close()
    q2 = PersistentQueue(str(tmp_path), "e", 2 * unit, lambda n: None, sizer=sizer)
    assert q2.size() == unit
    q2.close()


async def test_persistent_queue_from_before_sizers_opens_and_counts(tmp_path: pathlib.Path) -> None:
    q = PersistentQueue(str(tmp_path), "e", 10, lambda n: None)
    db = sqlite3.connect(q.path)
    q.close()
    db.executescript(
        "DROP TABLE queue;"
        "CREATE TABLE queue (id INTEGER PRIMARY KEY AUTOINCREMENT, added REAL NOT NULL, data BLOB NOT NULL);"
    )
    db.execute("INSERT INTO queue (added, data) VALUES (0, ?)", (encode_batch(_batch(1)),))
    db.commit()
    db.close()
    q2 = PersistentQueue(str(tmp_path), "e", 10, lambda n: None, sizer="items")
    assert q2.size() == 1  # an old row counts as one item: its count was never stored
    assert (await q2.get()).batch.records[0].id == "g1-0"
    q2.close()


async def test_exporter_queue_takes_its_sizer_from_the_config() -> None:
    """``sending_queue: {sizer: items, queue_size: 3}``: a second batch of two records is refused
    while the first waits (the sender is blocked), as the Collector's items sizer does."""
    gate = asyncio.Event()

    async def send(p: Payload) -> None:
        await gate.wait()

    cfg = load(
        {
            "receivers": {"otlp": {"grpc": {"endpoint": "127.0.0.1:0"}}},
            "exporters": {
                "sigil": {
                    "endpoint": "http://127.0.0.1:1",
                    "sending_queue": {"sizer": "items", "queue_size": 3, "num_consumers": 1},
                }
            },
            "service": {"pipelines": {"p": {"receivers": ["otlp"], "exporters": ["sigil"]}}},
        },
        environ={},
    )
    queue = cfg.exporters[ComponentId.parse("sigil")].config.sending_queue
    t = Telemetry()
    helper = ExporterHelper(
        CreateSettings(id=ComponentId.parse("e"), telemetry=t),
        lambda b: [Payload(len(b), b)],
        send,
        retry=RetryConfig(),
        queue=queue,
    )
    await helper.start()
    await helper.consume(_batch(1))  # taken by the one sender, which waits
    for _ in range(200):  # until the sender has it off the queue
        if t.registry.get_sample_value("gateway_exporter_queue_size", {"exporter": "e"}) == 0:
            break
        await asyncio.sleep(0.005)
    await helper.consume(_batch(2))  # queued: 2 of 3 items
    with pytest.raises(Overloaded, match="sending queue of e is full"):
        await helper.consume(_batch(3))
    gate.set()
    await helper.shutdown()
