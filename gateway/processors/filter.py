"""``filter`` processor: keeps or drops records by Sigil's rule selectors and simple conditions.

A record *matches* when it satisfies every condition given (an absent condition matches all):

* ``selectors``: any of Sigil's evaluation-rule selectors (:mod:`gateway.evaluation.selectors`) —
  ``user_visible_turn`` (assistant text output without tool calls), ``all_assistant_generations``
  (any assistant output), ``tool_call_steps`` (a tool call in the output),
  ``errored_generations`` (a call error / error status);
* ``models``, ``providers``, ``operations``, ``kinds``: the value is one of the list
  (``*`` suffix = prefix match, e.g. ``gpt-4*``);
* ``tags``: every ``key: value`` pair is present (``*`` as value: the key is present).

``action: keep`` passes matching records and drops the rest; ``action: drop`` the opposite.
Dropped records are counted (``gateway_processor_dropped_records_total{reason="filtered"}``);
the client is never told. Scores and ratings in the batch pass untouched.

.. code-block:: yaml

    processors:
      filter/errors-only:
        action: keep
        selectors: [errored_generations]
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from gateway.component import Capabilities, Consumer, CreateSettings, processor_factory
from gateway.evaluation.selectors import Selector, selector_matches
from gateway.model import Batch, Record

RecordKind = Literal["llm", "embedding", "tool", "agent", "workflow_step", "other"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FilterConfig:
    action: Literal["keep", "drop"] = "keep"  # what happens to matching records
    selectors: list[Selector] = dataclasses.field(default_factory=list)  # any of these matches
    models: list[str] = dataclasses.field(default_factory=list)  # request model, `*` suffix = prefix
    providers: list[str] = dataclasses.field(default_factory=list)  # provider names
    operations: list[str] = dataclasses.field(default_factory=list)  # operation names as sent
    kinds: list[RecordKind] = dataclasses.field(default_factory=list)  # record kinds
    tags: dict[str, str] = dataclasses.field(default_factory=dict)  # all must match; `*` = present

    def validate(self) -> list[str]:
        if not (self.selectors or self.models or self.providers or self.operations or self.kinds or self.tags):
            return ["at least one condition (selectors, models, providers, operations, kinds, tags) is required"]
        return []


def _one_of(value: str, patterns: list[str]) -> bool:
    for p in patterns:
        if p.endswith("*") and value.startswith(p[:-1]):
            return True
        if value == p:
            return True
    return False


def matches(cfg: FilterConfig, r: Record) -> bool:
    if cfg.selectors and not any(selector_matches(s, r) for s in cfg.selectors):
        return False
    if cfg.models and not _one_of(r.model, cfg.models):
        return False
    if cfg.providers and not _one_of(r.provider, cfg.providers):
        return False
    if cfg.operations and not _one_of(r.operation, cfg.operations):
        return False
    if cfg.kinds and str(r.kind) not in cfg.kinds:
        return False
    return all(key in r.tags and value in ("*", r.tags[key]) for key, value in cfg.tags.items())


class FilterProcessor:
    capabilities = Capabilities()  # replaces the batch's record list, never a record

    def __init__(self, settings: CreateSettings, cfg: FilterConfig, next_: Consumer) -> None:
        self._cfg = cfg
        self._next = next_
        self._id = str(settings.id)
        self._pipeline = settings.pipeline
        self._t = settings.telemetry

    async def start(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def consume(self, batch: Batch) -> None:
        keep = self._cfg.action == "keep"
        kept = [r for r in batch.records if matches(self._cfg, r) == keep]
        dropped = len(batch.records) - len(kept)
        if dropped:
            self._t.processor_dropped.labels(self._id, self._pipeline, "filtered").inc(dropped)
        # Scores and ratings pass untouched: conditions describe spans, not evaluations.
        if kept or batch.scores or batch.ratings:
            batch.records = kept
            await self._next.consume(batch)


def _create(settings: CreateSettings, cfg: FilterConfig, next_: Consumer) -> FilterProcessor:
    return FilterProcessor(settings, cfg, next_)


FACTORY = processor_factory("filter", FilterConfig, _create, "Keeps or drops records by selector or condition.")
