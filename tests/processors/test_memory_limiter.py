"""The memory limiter measures what it controls (bytes the exporters hold) and the allocator's
view, and lets go once usage falls: resident memory used to stay high after a burst, which kept
all intake refused with empty queues."""

from __future__ import annotations

import asyncio
import gc

import pytest

from gateway.component import ComponentId, CreateSettings
from gateway.errors import Overloaded
from gateway.exporters._helper import ExporterHelper, Payload, QueueConfig, RetryConfig
from gateway.model import Batch, Context, Record
from gateway.processors.memory_limiter import MemoryLimiter, MemoryLimiterConfig, rss_bytes
from gateway.telemetry import Telemetry

MIB = 1024 * 1024


class Sink:
    async def consume(self, batch: Batch) -> None:
        return None


def _limiter(t: Telemetry, limit_mib: int) -> MemoryLimiter:
    cfg = MemoryLimiterConfig(limit_mib=limit_mib, spike_limit_mib=1)
    return MemoryLimiter(CreateSettings(id=ComponentId.parse("memory_limiter"), telemetry=t), cfg, Sink())


async def test_bytes_held_in_exporter_queues_are_counted_and_released() -> None:
    t = Telemetry()
    gate = asyncio.Event()

    async def send(p: Payload) -> None:
        await gate.wait()

    helper = ExporterHelper(
        CreateSettings(id=ComponentId.parse("e"), telemetry=t),
        lambda b: [Payload(len(b), b)],
        send,
        retry=RetryConfig(),
        queue=QueueConfig(num_consumers=1, queue_size=100),
    )
    await helper.start()
    limiter = _limiter(t, limit_mib=4)  # soft limit 3 MiB
    for _ in range(8):
        await helper.consume(Batch([Record(system_prompt="x" * (512 * 1024))], Context()))
    limiter.check(rss=0)  # the process's view aside: only what the exporter holds
    assert limiter.refusing
    labels = {"processor": "memory_limiter", "measure": "held"}
    held = t.registry.get_sample_value("gateway_processor_memory_bytes", labels)
    assert held is not None and held > 3 * MIB
    with pytest.raises(Overloaded):
        await limiter.consume(Batch([Record()], Context()))
    gate.set()  # the backend takes them: the queue drains
    for _ in range(200):
        if helper.held_bytes() == 0:
            break
        await asyncio.sleep(0.01)
    limiter.check(rss=0)
    assert not limiter.refusing
    await helper.shutdown()


def test_resident_memory_left_by_a_burst_does_not_latch() -> None:
    gc.collect()
    base = rss_bytes()
    limiter = _limiter(Telemetry(), limit_mib=(base + 100 * MIB) // MIB)
    pinned = []
    burst = []
    for i in range(200_000):  # about 200 MiB in 1 KB objects, a few kept to fragment the heap
        burst.append(b"x" * 1000 + bytes([i % 256]))
        if i % 1000 == 0:
            pinned.append(b"y" * 1000)
    limiter.check()
    assert limiter.refusing  # really in use now
    del burst
    limiter.check()  # freed: the allocator still holds it until asked to give it back
    assert not limiter.refusing, rss_bytes() >> 20
    assert pinned
