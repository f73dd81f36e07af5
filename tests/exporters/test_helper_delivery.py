"""The exporter helper's delivery guarantees: workers that survive their own failures, a file
exporter path checked at validate, and a write that fails kept in the dead-letter file."""

from __future__ import annotations

import asyncio
import pathlib

import pytest

from gateway.component import ComponentId, CreateSettings
from gateway.config import load
from gateway.errors import ConfigError
from gateway.exporters import _dead_letter
from gateway.exporters._dead_letter import DeadLetterConfig
from gateway.exporters._helper import ExporterHelper, Payload, QueueConfig, RetryConfig
from gateway.exporters.file import FileExporter, FileExporterConfig
from gateway.model import Batch, Context, Record
from gateway.telemetry import Telemetry


def _settings(name: str, t: Telemetry) -> CreateSettings:
    return CreateSettings(id=ComponentId.parse(name), telemetry=t)


def _batch(*ids: str) -> Batch:
    return Batch([Record(id=i) for i in ids], Context())


async def test_worker_survives_a_failing_queue_and_carries_on() -> None:
    t = Telemetry()
    sent: list[str] = []
    arrived = asyncio.Event()

    async def send(p: Payload) -> None:
        sent.extend(p.data)
        arrived.set()

    helper = ExporterHelper(
        _settings("e", t),
        lambda b: [Payload(len(b), [r.id for r in b.records])],
        send,
        retry=RetryConfig(),
        queue=QueueConfig(num_consumers=1),
    )
    await helper.start()
    queue = helper._queue
    assert queue is not None
    real_ack = queue.ack
    failures = [RuntimeError("disk on fire")]

    def ack(entry: object) -> None:
        if failures:
            raise failures.pop()
        real_ack(entry)  # type: ignore[arg-type]

    queue.ack = ack  # type: ignore[method-assign]
    await helper.consume(_batch("a"))
    await asyncio.wait_for(arrived.wait(), 10)
    arrived.clear()
    await helper.consume(_batch("b"))  # the only worker failed once; it must still be there
    await asyncio.wait_for(arrived.wait(), 10)
    assert sent == ["a", "b"]
    assert t.registry.get_sample_value("gateway_exporter_worker_restarts_total", {"exporter": "e"}) == 1
    await helper.shutdown()


def test_unwritable_file_path_fails_validate(tmp_path: pathlib.Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    raw = {
        "receivers": {"sigil": {"http": {"endpoint": "127.0.0.1:0"}, "grpc": None}},
        "exporters": {"file": {"path": str(blocker / "out.jsonl")}},
        "service": {"pipelines": {"p": {"receivers": ["sigil"], "exporters": ["file"]}}},
    }
    with pytest.raises(ConfigError) as info:
        load(raw, environ={})
    assert info.value.problems == [f"exporters::file::path: {blocker} is not a directory"]


async def test_file_write_failure_goes_to_the_dead_letter_file(tmp_path: pathlib.Path) -> None:
    t = Telemetry()
    out = tmp_path / "out.jsonl"
    dead = tmp_path / "dead.jsonl"
    cfg = FileExporterConfig(path=str(out), dead_letter=DeadLetterConfig(path=str(dead)))
    exporter = FileExporter(_settings("file", t), cfg)
    await exporter.start()
    out.mkdir()  # the path turns unwritable after start
    await exporter.consume(_batch("x", "y"))
    await exporter.shutdown()
    [entry] = list(_dead_letter.read(str(dead)))
    assert (entry.reason, [r.id for r in entry.batch.records]) == ("permanent", ["x", "y"])
    assert "cannot write" in entry.error
    labels = {"exporter": "file", "reason": "permanent"}
    assert t.registry.get_sample_value("gateway_exporter_dead_letter_records_total", labels) == 2


async def test_shutdown_counts_every_acknowledged_record_it_gives_up() -> None:
    # In-memory queue, a backend that never answers: one batch in flight, two queued. The
    # service's deadline cuts the drain; all of them are counted and logged as lost.
    t = Telemetry()

    async def send(p: Payload) -> None:
        await asyncio.Event().wait()

    helper = ExporterHelper(
        _settings("e", t), lambda b: [Payload(len(b), b)], send, retry=RetryConfig(), queue=QueueConfig(num_consumers=1)
    )
    await helper.start()
    for ids in (("a", "b"), ("c",), ("d", "e", "f")):
        await helper.consume(_batch(*ids))
    await asyncio.sleep(0.05)  # the worker has taken the first batch
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(helper.shutdown(), 0.2)
    labels = {"exporter": "e", "reason": "shutdown"}
    assert t.registry.get_sample_value("gateway_exporter_send_failed_records_total", labels) == 6
