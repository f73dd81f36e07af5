"""The graph: receivers fan in to pipelines, each pipeline runs its own processor instances in
order, and fans out to exporters (one instance per exporter id, shared by pipelines).

Building the graph creates every component and registers every route without starting
anything, so ``gateway validate`` can build it and catch route conflicts too.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gateway.auth import receiver_gates
from gateway.component import (
    Component,
    ComponentId,
    Consumer,
    CreateSettings,
    Exporter,
    Processor,
    ReceiverSettings,
)
from gateway.config import GatewayConfig
from gateway.errors import ConfigError, ConsumeError, Overloaded, RetryableError
from gateway.listeners import Listeners
from gateway.model import Batch
from gateway.telemetry import PipelineOutput, Telemetry

log = logging.getLogger(__name__)


class FanOut:
    """Hands a batch to several consumers. Consumers that only read share the batch's records
    (each gets its own lists); each consumer that mutates data gets a deep copy, unless every
    consumer mutates, when the first takes the original. Natives are never modified, so every
    branch shares them. Raises the most retryable error seen, so a client retries when any branch
    could not take the data."""

    def __init__(self, consumers: Sequence[Consumer], *, mutates: Sequence[bool] | None = None) -> None:
        self._consumers = list(consumers)
        self._mutates = list(mutates) if mutates is not None else [False] * len(self._consumers)
        # Which consumer may take the original batch: the first when all mutate, else none of
        # the mutating ones.
        self._original = 0 if all(self._mutates) else next(i for i, m in enumerate(self._mutates) if not m)

    async def consume(self, batch: Batch) -> None:
        if len(self._consumers) == 1:
            await self._consumers[0].consume(batch)
            return
        native = batch.native is not None
        batches = [
            batch if i == self._original else (copy.deepcopy(batch) if mutates and not native else batch.copy())
            for i, mutates in enumerate(self._mutates)
        ]
        results = await asyncio.gather(
            *(c.consume(b) for c, b in zip(self._consumers, batches, strict=True)), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if not errors:
            return
        for kind in (Overloaded, RetryableError, ConsumeError):
            for err in errors:
                if isinstance(err, kind):
                    raise err
        raise errors[0]


@dataclasses.dataclass
class Graph:
    listeners: Listeners
    receivers: dict[ComponentId, Component]
    processors: list[tuple[str, ComponentId, Processor]]
    exporters: dict[ComponentId, Exporter]


def build(
    cfg: GatewayConfig,
    telemetry: Telemetry,
    *,
    worker: int | None = None,
    reuse: Mapping[ComponentId, Exporter] | None = None,
) -> Graph:
    """Creates every component and wires them. Raises ConfigError on wiring problems.

    ``reuse``: running exporters a config reload keeps (their config did not change), used
    instead of new ones so their queues carry on."""
    problems: list[str] = _durability_problems(cfg)
    exporters: dict[ComponentId, Exporter] = {}
    used_exporters = {ComponentId.parse(e) for p in cfg.service.pipelines.values() for e in p.exporters}
    for cid, cc in cfg.exporters.items():
        if cid not in used_exporters:
            continue
        if reuse is not None and cid in reuse:
            exporters[cid] = reuse[cid]
            continue
        exporters[cid] = cc.factory.create(CreateSettings(id=cid, telemetry=telemetry), _per_worker(cc.config, worker))

    processors: list[tuple[str, ComponentId, Processor]] = []
    entries: dict[ComponentId, list[tuple[Consumer, bool]]] = {}  # receiver -> (pipeline head, mutates)
    fed: dict[ComponentId, list[Exporter]] = {}
    natives: dict[ComponentId, frozenset[str]] = {}
    for name, p in cfg.service.pipelines.items():
        targets = [exporters[ComponentId.parse(e)] for e in p.exporters]
        # Exporters share a pipeline's batch (each gets its own lists): they only read records.
        tail: Consumer = PipelineOutput(telemetry, name, FanOut(targets))
        native = _native_kinds(targets)
        mutates = False
        for ref in reversed(p.processors):
            pid = ComponentId.parse(ref)
            pc = cfg.processors[pid]
            proc: Processor = pc.factory.create(
                CreateSettings(id=pid, telemetry=telemetry, pipeline=name), pc.config, tail
            )
            processors.append((name, pid, proc))
            tail = proc
            mutates = mutates or proc.capabilities.mutates_data
            if not proc.capabilities.passes_native:
                native = frozenset()
        for ref in p.receivers:
            rid = ComponentId.parse(ref)
            entries.setdefault(rid, []).append((tail, mutates))
            natives[rid] = native if rid not in natives else natives[rid] & native
            fed.setdefault(rid, []).extend(targets)

    # Memory is the process's: while any limiter refuses, every receiver refuses before reading.
    refusing = [r for _, _, proc in processors if (r := proc.capabilities.refusing) is not None]
    listeners = Listeners(reuse_port=worker is not None, telemetry=telemetry)
    gates, auth_problems = receiver_gates(cfg, telemetry)
    problems += auth_problems
    receivers: dict[ComponentId, Component] = {}
    for rid, heads in entries.items():
        rc = cfg.receivers[rid]
        settings = ReceiverSettings(
            id=rid,
            telemetry=telemetry,
            listeners=listeners,
            saturated=_intake_probe(fed[rid], refusing),
            native=natives[rid],
            auth=gates.get(rid),
        )
        try:
            fan_out = FanOut([head for head, _ in heads], mutates=[m for _, m in heads])
            receivers[rid] = rc.factory.create(settings, rc.config, fan_out)
        except ValueError as exc:
            problems.append(f"receivers::{rid}: {exc}")
    if problems:
        raise ConfigError(problems)
    # Processors were created tail first; start order is head first, so reverse.
    processors.reverse()
    return Graph(listeners, receivers, processors, exporters)


def _durability_problems(cfg: GatewayConfig) -> list[str]:
    """A batch processor that answers the client before records reach the exporters
    (``acknowledge: buffer``) would, in front of a persistent queue, be the hole in "2xx means on
    disk" (the Collector's #12443); with ``acknowledge: export`` it answers only then."""
    problems = []
    for name, p in cfg.service.pipelines.items():
        durable = [
            e
            for e in p.exporters
            if (cc := cfg.exporters.get(ComponentId.parse(e))) is not None
            and bool(getattr(getattr(cc.config, "sending_queue", None), "storage", ""))
        ]
        if not durable:
            continue
        for i, ref in enumerate(p.processors):
            pc = cfg.processors.get(ComponentId.parse(ref))
            if pc is not None and getattr(pc.config, "acknowledge", "") == "buffer":
                problems.append(
                    f"service::pipelines::{name}::processors::{i}: {ref} would acknowledge records before "
                    f"they are on disk in the persistent queue of {', '.join(durable)}; set its "
                    "acknowledge: export (the default) or remove it"
                )
    return problems


def _per_worker(config: Any, worker: int | None) -> Any:
    """Each worker process owns a persistent queue of its own: ``<storage>/worker-<n>``."""
    queue = getattr(config, "sending_queue", None)
    if worker is None or queue is None or not getattr(queue, "storage", ""):
        return config
    storage = os.path.join(queue.storage, f"worker-{worker}")
    return dataclasses.replace(config, sending_queue=dataclasses.replace(queue, storage=storage))


def _intake_probe(exporters: list[Exporter], refusing: list[Callable[[], bool]]) -> Callable[[], bool]:
    """A receiver sheds load before parsing when memory is short or a queue it would need is
    full: parsing a body only to answer 429 afterwards wastes the CPU the queue needs to drain."""
    probes = [*refusing, *(e.saturated for e in exporters)]
    return lambda: any(probe() for probe in probes)


def _native_kinds(exporters: list[Exporter]) -> frozenset[str]:
    """The :class:`~gateway.model.Native` kinds every exporter of a fan-out takes without records
    (their declared capabilities). Processors upstream either pass them on or take none; a
    receiver hands on natives only of the kinds all its pipelines take."""
    kinds = [e.capabilities.native_kinds for e in exporters]
    return frozenset.intersection(*kinds) if kinds else frozenset()
