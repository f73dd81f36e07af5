"""``evaluate`` processor: Sigil's online evaluation, run at the edge on the records passing by.

Evaluators and rules have the shapes of Sigil's evaluation API (``POST /api/v1/eval/evaluators``,
``/eval-rules``): an evaluator is a ``kind`` with its ``config``; a rule picks generations with
a Sigil selector (``user_visible_turn``, ``all_assistant_generations``, ``tool_call_steps``,
``errored_generations``), samples them, and runs its evaluators on each. The kinds are
``regex`` (``pattern`` or ``patterns``, ``reject``, ``target``), ``json_schema`` (``schema``,
``target``) and ``heuristic`` (``version: v2`` with ``root`` or ``rules``, ``target``);
``target`` is ``response`` (default), ``input`` or ``system_prompt``. See
:mod:`gateway.processors._evaluators` for what each reads and where it differs from the server.
``llm_judge`` needs a judge endpoint and is refused.

Each run adds one :class:`~gateway.model.Score` to the batch, as the Sigil server records its
own: a bool ``value`` equal to ``passed``, the evaluator's explanation and metadata, the
generation's conversation, trace and span ids, the ``rule_id``, and source ``online_rule`` /
the rule id. Ids are deterministic and the server's: ``work_`` + SHA-1 of (tenant, generation
id, rule id, evaluator id, version), then ``sc_`` + SHA-1 of (work id, score key), 24 hex digits
each, so a replay yields the same ids and the backend ignores the resend. Exporters carry the
scores on (Sigil ``scores:export``, LumiqTrace ``eval_scores``); those that cannot drop and count
them.

Sampling is Sigil's: FNV-1a 64 of ``tenant|conversation|rule`` into 10000 buckets, kept when the
bucket is below ``sample_rate × 10000``. It is deterministic, so replays agree, and it keeps or
drops whole conversations (``sample_by: conversation``; a record without a conversation counts
as its own); ``sample_by: generation`` hashes the record id instead. Records without an id are
skipped and counted: a score needs a generation id. Put ``evaluate`` before processors that
strip content, or evaluators see empty texts.

.. code-block:: yaml

    processors:
      evaluate:
        evaluators:
          - {id: answer.json, kind: json_schema, config: {schema: {type: object, required: [answer]}}}
          - {id: no.apology, kind: regex, config: {pattern: "(?i)i'm sorry", reject: true}}
        rules:
          - {id: visible.turns, selector: user_visible_turn, sample_rate: 0.25, evaluators: [answer.json, no.apology]}
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from typing import Any, Literal

from gateway.component import Capabilities, Consumer, CreateSettings, processor_factory
from gateway.model import Batch, Record, Score, derived_score_id
from gateway.processors import _evaluators
from gateway.processors.filter import Selector, selector_matches

log = logging.getLogger(__name__)

DEFAULT_EVALUATOR_VERSION = "1"
DEFAULT_SAMPLE_RATE = 1.0  # Sigil's API defaults to 0.01; local evaluators cost next to nothing
SOURCE_KIND = "online_rule"  # what the Sigil server records for its own rule-driven scores
SAMPLE_BUCKETS = 10_000
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class EvaluatorConfig:
    id: str  # evaluator_id on its scores; rules name it
    kind: Literal["regex", "json_schema", "heuristic", "llm_judge"]  # llm_judge: not supported yet
    version: str = DEFAULT_EVALUATOR_VERSION  # evaluator_version on its scores
    config: dict[str, Any] = dataclasses.field(default_factory=dict)  # the kind's settings, as in Sigil
    score_key: str = ""  # key of its scores; "" = regex_match, json_valid or heuristic_pass

    def validate(self) -> list[str]:
        problems = []
        if not self.id.strip():
            problems.append("id: must not be empty")
        if not self.version.strip():
            problems.append("version: must not be empty")
        if self.kind == "llm_judge":
            problems.append(
                "kind: llm_judge is not supported yet: the gateway has no judge endpoint "
                "(run llm_judge evaluators in Sigil, or use regex, json_schema or heuristic here)"
            )
        else:
            problems.extend(_evaluators.build(self.kind, self.config)[1])
        return problems


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RuleConfig:
    id: str  # rule_id on its scores; part of their ids
    evaluators: list[str]  # ids of the evaluators to run on each selected generation
    selector: Selector = "user_visible_turn"  # which generations the rule looks at
    sample_rate: float = DEFAULT_SAMPLE_RATE  # share of them evaluated, 0 to 1 (deterministic)
    sample_by: Literal["conversation", "generation"] = "conversation"  # what sampling keeps together
    enabled: bool = True  # false: the rule runs nothing

    def validate(self) -> list[str]:
        problems = []
        if not self.id.strip():
            problems.append("id: must not be empty")
        if not self.evaluators:
            problems.append("evaluators: at least one evaluator id is required")
        if not 0.0 <= self.sample_rate <= 1.0:
            problems.append("sample_rate: must be between 0 and 1")
        return problems


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class EvaluateConfig:
    evaluators: list[EvaluatorConfig] = dataclasses.field(default_factory=list)  # what can run
    rules: list[RuleConfig] = dataclasses.field(default_factory=list)  # what runs on which records

    def validate(self) -> list[str]:
        problems = []
        if not self.rules:
            problems.append("rules: at least one rule is required")
        defined: set[str] = set()
        for i, e in enumerate(self.evaluators):
            if e.id in defined:
                problems.append(f"evaluators::{i}::id: evaluator {e.id!r} is defined twice")
            defined.add(e.id)
        rule_ids: set[str] = set()
        for i, r in enumerate(self.rules):
            if r.id in rule_ids:
                problems.append(f"rules::{i}::id: rule {r.id!r} is defined twice")
            rule_ids.add(r.id)
            for j, ref in enumerate(r.evaluators):
                if ref not in defined:
                    problems.append(f"rules::{i}::evaluators::{j}: evaluator {ref!r} is not defined under evaluators")
        return problems


@dataclasses.dataclass(frozen=True, slots=True)
class _Evaluator:
    cfg: EvaluatorConfig
    impl: _evaluators.Evaluator
    key: str


def should_sample(tenant: str, key: str, rule_id: str, rate: float) -> bool:
    """Sigil's ShouldSampleConversation: FNV-1a 64 of ``tenant|key|rule`` into 10000 buckets."""
    if rate <= 0:
        return False
    threshold = int(rate * SAMPLE_BUCKETS)
    if rate >= 1 or threshold >= SAMPLE_BUCKETS:
        return True
    return fnv1a_64(f"{tenant}|{key}|{rule_id}".encode()) % SAMPLE_BUCKETS < threshold


def fnv1a_64(data: bytes) -> int:
    """Go's hash/fnv New64a."""
    h = _FNV_OFFSET
    for byte in data:
        h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def work_id(tenant: str, generation_id: str, rule_id: str, evaluator_id: str, version: str) -> str:
    """The server's id of one (generation, rule, evaluator) evaluation; score ids derive from it."""
    text = "|".join((tenant, generation_id, rule_id, evaluator_id, version))
    return "work_" + hashlib.sha1(text.encode()).hexdigest()[:24]


class EvaluateProcessor:
    capabilities = Capabilities()  # reads records; adds scores to the batch's own list

    def __init__(self, settings: CreateSettings, cfg: EvaluateConfig, next_: Consumer) -> None:
        self._next = next_
        self._id = str(settings.id)
        self._t = settings.telemetry
        self._rules = [r for r in cfg.rules if r.enabled]
        self._evaluators: dict[str, _Evaluator] = {}
        for e in cfg.evaluators:
            impl, problems = _evaluators.build(e.kind, e.config)
            if impl is None:  # validated at load; only a hand-built config gets here
                raise ValueError(f"evaluator {e.id}: {'; '.join(problems)}")
            self._evaluators[e.id] = _Evaluator(e, impl, e.score_key.strip() or impl.default_key)
            if isinstance(impl, _evaluators.JsonSchemaEvaluator) and (ignored := impl.unsupported_keywords()):
                log.warning(
                    "processor %s: evaluator %s: JSON Schema keywords %s are not checked "
                    "(Sigil's subset: type, required, properties, items)",
                    self._id,
                    e.id,
                    ", ".join(sorted(ignored)),
                )

    async def start(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def consume(self, batch: Batch) -> None:
        # Evaluators are linear in texts already in memory, so they run inline, per batch.
        now = time.time_ns()
        tenant = batch.context.tenant
        for record in batch.records:
            for rule in self._rules:
                if not selector_matches(rule.selector, record):
                    continue
                key = record.id if rule.sample_by == "generation" else (record.conversation_id or record.id)
                if not should_sample(tenant, key, rule.id, rule.sample_rate):
                    continue
                for ref in rule.evaluators:
                    ev = self._evaluators[ref]
                    if not record.id:
                        self._t.processor_evaluations.labels(self._id, ev.cfg.id, "no_id").inc()
                        continue
                    batch.scores.append(self._score(ev, rule, record, tenant, now))
        await self._next.consume(batch)

    def _score(self, ev: _Evaluator, rule: RuleConfig, record: Record, tenant: str, now: int) -> Score:
        verdict = ev.impl.evaluate(record)
        self._t.processor_evaluations.labels(self._id, ev.cfg.id, "passed" if verdict.passed else "failed").inc()
        work = work_id(tenant, record.id, rule.id, ev.cfg.id, ev.cfg.version)
        return Score(
            id=derived_score_id(work, ev.key),
            generation_id=record.id,
            evaluator_id=ev.cfg.id,
            evaluator_version=ev.cfg.version,
            key=ev.key,
            value=verdict.passed,
            passed=verdict.passed,
            explanation=verdict.explanation,
            metadata=verdict.metadata,
            created_ns=now,
            conversation_id=record.conversation_id,
            trace_id=record.trace_id,
            span_id=record.span_id,
            rule_id=rule.id,
            source_kind=SOURCE_KIND,
            source_id=rule.id,
        )


def _create(settings: CreateSettings, cfg: EvaluateConfig, next_: Consumer) -> EvaluateProcessor:
    return EvaluateProcessor(settings, cfg, next_)


FACTORY = processor_factory(
    "evaluate",
    EvaluateConfig,
    _create,
    "Runs Sigil evaluators (regex, json_schema, heuristic) on records and adds their scores.",
)
