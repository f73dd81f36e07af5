"""``memory_limiter`` processor: refuses new data while the gateway holds too much memory.

Every ``check_interval`` it measures two things and takes the larger:

* what it controls: the bytes the exporters hold in memory (batches in in-memory sending queues
  and batches being sent, approximately, see :mod:`gateway.sizing`), and
* the allocator's view: the process's resident memory. Resident memory does not fall by itself
  after a burst (freed memory stays with the allocator), so above the soft limit the limiter
  first collects garbage and asks the C allocator to return free pages (``malloc_trim``, glibc)
  and reads it again: what it reports then is what is really in use.

Above the soft limit (``limit_mib - spike_limit_mib``) it refuses data with a retryable error
(receivers answer 429/503 + ``Retry-After`` or ``RESOURCE_EXHAUSTED``), and it also raises a
process-wide flag that receivers check *before* reading and parsing a body, so a flood of large
requests is turned away without being parsed. Intake resumes at the first check below the soft
limit: as the queues drain, the held bytes fall, and trimming lets resident memory follow.

.. code-block:: yaml

    processors:
      memory_limiter:
        check_interval: 1s
        limit_mib: 512
        spike_limit_mib: 128
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import dataclasses
import gc
import logging
import os
from collections.abc import Callable

from gateway.component import Capabilities, Consumer, CreateSettings, processor_factory
from gateway.errors import Overloaded
from gateway.model import Batch
from gateway.units import Duration

log = logging.getLogger(__name__)

DEFAULT_CHECK_INTERVAL = 1.0
DEFAULT_SPIKE_LIMIT_MIB = 0  # 0: a fifth of limit_mib
DEFAULT_LIMIT_MIB = 1024
RETRY_AFTER = 1.0
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _malloc_trim() -> Callable[[], None]:
    """``malloc_trim(0)`` where the C library has it (glibc), else nothing."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    trim.argtypes = [ctypes.c_size_t]

    def release() -> None:
        trim(0)

    return release


release_free_memory = _malloc_trim()


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc; falls back to the peak on others)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MemoryLimiterConfig:
    check_interval: Duration = Duration(DEFAULT_CHECK_INTERVAL)  # how often memory is read
    limit_mib: int = DEFAULT_LIMIT_MIB  # hard limit, MiB of resident memory
    spike_limit_mib: int = DEFAULT_SPIKE_LIMIT_MIB  # headroom below the hard limit, MiB; 0 means 20% of limit_mib

    def validate(self) -> list[str]:
        problems = []
        if self.check_interval <= 0:
            problems.append("check_interval: must be greater than 0")
        if self.limit_mib <= 0:
            problems.append("limit_mib: must be greater than 0")
        if self.spike_limit_mib < 0 or self.spike_limit_mib >= self.limit_mib:
            problems.append("spike_limit_mib: must be at least 0 and less than limit_mib")
        return problems

    @property
    def soft_limit_bytes(self) -> int:
        spike = self.spike_limit_mib or self.limit_mib // 5
        return (self.limit_mib - spike) * 1024 * 1024


class MemoryLimiter:
    def __init__(self, settings: CreateSettings, cfg: MemoryLimiterConfig, next_: Consumer) -> None:
        self._cfg = cfg
        self._next = next_
        self._id = str(settings.id)
        self._pipeline = settings.pipeline
        self._t = settings.telemetry
        self._task: asyncio.Task[None] | None = None
        self.refusing = False
        # Counts items, never reads them: a pass-through may go on through it.
        self.capabilities = Capabilities(passes_native=True, refusing=lambda: self.refusing)

    def held_bytes(self) -> int:
        """What the exporters hold in memory (their probes in the telemetry)."""
        return sum(probe() for probe in list(self._t.memory_probes.values()))

    def check(self, rss: int | None = None, held: int | None = None) -> None:
        """Measures (or takes the given measures, in tests) and refuses or accepts accordingly."""
        held = self.held_bytes() if held is None else held
        soft = self._cfg.soft_limit_bytes
        if rss is None:
            rss = rss_bytes()
            if rss > soft:
                # Maybe only memory the allocator kept after a burst: give it back and look again.
                gc.collect()
                release_free_memory()
                rss = rss_bytes()
        self._t.memory_bytes.labels(self._id, "held").set(held)
        self._t.memory_bytes.labels(self._id, "process").set(rss)
        used = max(held, rss)
        refusing = used > soft
        if refusing != self.refusing:
            self.refusing = refusing
            if refusing:
                log.warning(
                    "memory_limiter %s: %d MiB in use (%d MiB held by exporters), refusing data",
                    self._id,
                    rss >> 20,
                    held >> 20,
                )
            else:
                log.info("memory_limiter %s: %d MiB in use, accepting data again", self._id, used >> 20)

    async def _watch(self) -> None:
        while True:
            self.check()
            await asyncio.sleep(float(self._cfg.check_interval))

    async def start(self) -> None:
        if self._task is None:
            self.check()
            self._task = asyncio.create_task(self._watch(), name=f"{self._id}-watch")

    async def shutdown(self) -> None:
        self.refusing = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def consume(self, batch: Batch) -> None:
        if self.refusing:
            self._t.processor_dropped.labels(self._id, self._pipeline, "memory_limit").inc(len(batch))
            raise Overloaded("memory limit reached; retry later", retry_after=RETRY_AFTER)
        await self._next.consume(batch)


def _create(settings: CreateSettings, cfg: MemoryLimiterConfig, next_: Consumer) -> MemoryLimiter:
    return MemoryLimiter(settings, cfg, next_)


FACTORY = processor_factory("memory_limiter", MemoryLimiterConfig, _create, "Refuses data above a memory limit.")
