"""``memory_limiter`` processor: refuses new data while the process uses too much memory.

Every ``check_interval`` it reads the process's resident memory. Above the soft limit
(``limit_mib - spike_limit_mib``) it refuses data with a retryable error (receivers answer
429/503 + ``Retry-After`` or ``RESOURCE_EXHAUSTED``), and it also raises a process-wide flag
that receivers check *before* reading and parsing a body, so a flood of large requests is turned
away without being parsed. Above the hard limit (``limit_mib``) it also forces a garbage
collection. Intake resumes as soon as memory is below the soft limit again.

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
import dataclasses
import gc
import logging
import os

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

    def check(self, rss: int | None = None) -> None:
        rss = rss_bytes() if rss is None else rss
        if rss > self._cfg.limit_mib * 1024 * 1024:
            gc.collect()
            rss = rss_bytes()
        refusing = rss > self._cfg.soft_limit_bytes
        if refusing != self.refusing:
            self.refusing = refusing
            if refusing:
                log.warning("memory_limiter %s: %d MiB in use, refusing data", self._id, rss >> 20)
            else:
                log.info("memory_limiter %s: %d MiB in use, accepting data again", self._id, rss >> 20)

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
