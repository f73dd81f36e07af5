"""``evaluate`` processor: Sigil's online evaluation, run at the edge on the records passing by.

Evaluators and rules have the shapes of Sigil's evaluation API (``POST /api/v1/eval/evaluators``,
``/eval-rules``): an evaluator is a ``kind`` with its ``config``; a rule picks generations with
a Sigil selector (``user_visible_turn``, ``all_assistant_generations``, ``tool_call_steps``,
``errored_generations``) and an optional ``match``, samples them, and runs its evaluators on
each. The kinds are ``regex`` (``pattern`` or ``patterns``, ``reject``, ``target``),
``json_schema`` (``schema``, ``target``), ``heuristic`` (``version: v2`` with ``root`` or
``rules``, ``target``) and ``llm_judge`` (``provider``, ``model``, ``system_prompt``,
``user_prompt``, ``max_tokens``, ``temperature``, ``timeout_ms``) against a judge provider
declared under ``judges.providers``. See :mod:`gateway.evaluation.evaluators` and
:mod:`gateway.evaluation.llm_judge` for what each reads and where it differs from the server.

The deterministic kinds run inline and add one :class:`~gateway.model.Score` to the batch, as the
Sigil server records its own: a bool ``value`` equal to ``passed``, the evaluator's explanation
and metadata, the generation's conversation, trace and span ids, the ``rule_id``, and source
``online_rule`` / the rule id. ``llm_judge`` never holds the batch up: the batch goes on at once
and the judge's score follows later in a batch of its own (:mod:`gateway.evaluation.judging`);
each rule caps the judgments it starts per minute (``judge_budget_per_minute``). Ids are
deterministic and the server's: ``work_`` + SHA-1 of (tenant, generation id, rule id, evaluator
id, version), then ``sc_`` + SHA-1 of (work id, score key), 24 hex digits each, so a replay
yields the same ids and the backend ignores the resend.

Sampling is Sigil's: FNV-1a 64 of ``tenant|conversation|rule`` into 10000 buckets, kept when the
bucket is below ``sample_rate × 10000``. It is deterministic, so replays agree, and it keeps or
drops whole conversations (``sample_by: conversation``; a record without a conversation counts
as its own); ``sample_by: generation`` hashes the record id instead. Records without an id are
skipped and counted: a score needs a generation id. Put ``evaluate`` before processors that
strip content, or evaluators see empty texts.

``api_store`` names the evaluation store file the ``sigil`` receiver's evaluation API writes
(its ``eval_api.store``): evaluators and rules created there run here from the next batch on,
per tenant, beside those in the YAML (:mod:`gateway.evaluation.store`).

.. code-block:: yaml

    processors:
      evaluate:
        judges:
          providers:
            - {id: openai, api: openai, base_url: https://api.openai.com/v1, api_key: "${env:OPENAI_API_KEY}"}
        evaluators:
          - {id: no.apology, kind: regex, config: {pattern: "(?i)i'm sorry", reject: true}}
          - id: helpful
            kind: llm_judge
            config: {provider: openai, model: gpt-4o-mini, user_prompt: "Rate 1-10:\\n{{assistant_response}}"}
            output_keys: [{key: helpfulness, type: number, pass_threshold: 7}]
        rules:
          - {id: visible.turns, selector: user_visible_turn, sample_rate: 0.1, evaluators: [no.apology, helpful]}
        api_store: ./data/eval-store.json
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from typing import Any, Literal

from gateway.component import Capabilities, Consumer, CreateSettings, processor_factory
from gateway.evaluation import evaluators
from gateway.evaluation.definitions import (
    Evaluator,
    Rule,
    compile_evaluator,
    evaluator_definition,
    match_record,
    parse_match,
)
from gateway.evaluation.judge import JudgeClient, JudgeProviderConfig, JudgeRequest
from gateway.evaluation.judging import Job, Judging
from gateway.evaluation.llm_judge import render, template_vars
from gateway.evaluation.selectors import SELECTORS, Selector, selector_matches
from gateway.evaluation.store import Attachment, EvalStore, StoreError, open_store
from gateway.model import Batch, Record, Score, derived_score_id
from gateway.telemetry import RateLimitedLog
from gateway.units import Duration

log = logging.getLogger(__name__)

DEFAULT_EVALUATOR_VERSION = "1"
DEFAULT_SAMPLE_RATE = 1.0  # Sigil's API defaults to 0.01; local evaluators cost next to nothing
DEFAULT_JUDGE_BUDGET_PER_MINUTE = 60  # llm_judge runs a rule may start per minute
DEFAULT_MAX_PENDING = 1000
DEFAULT_JUDGE_SHUTDOWN_TIMEOUT = 5.0
MAX_TENANTS_CACHED = 1000  # compiled per-tenant rule sets kept; then the cache restarts
SOURCE_KIND = "online_rule"  # what the Sigil server records for its own rule-driven scores
SAMPLE_BUCKETS = 10_000
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class EvaluatorConfig:
    id: str  # evaluator_id on its scores; rules name it
    kind: Literal["regex", "json_schema", "heuristic", "llm_judge"]  # as in Sigil's API
    version: str = DEFAULT_EVALUATOR_VERSION  # evaluator_version on its scores
    config: dict[str, Any] = dataclasses.field(default_factory=dict)  # the kind's settings, as in Sigil
    output_keys: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # Sigil's: one {key, type, …}
    score_key: str = ""  # key of its scores; "" = output_keys' key, else the kind's (regex_match, judge_score, …)
    description: str = ""  # shown by the evaluation API

    def validate(self) -> list[str]:
        problems = []
        if not self.id.strip():
            problems.append("id: must not be empty")
        if not self.version.strip():
            problems.append("version: must not be empty")
        problems.extend(
            compile_evaluator(self.id, self.kind, self.version, self.config, self.output_keys, self.score_key)[1]
        )
        return problems


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RuleConfig:
    id: str  # rule_id on its scores; part of their ids
    evaluators: list[str]  # ids of the evaluators to run on each selected generation
    selector: Selector = "user_visible_turn"  # which generations the rule looks at
    match: dict[str, Any] = dataclasses.field(default_factory=dict)  # Sigil's match: {agent_name: "support-*", …}
    sample_rate: float = DEFAULT_SAMPLE_RATE  # share of them evaluated, 0 to 1 (deterministic)
    sample_by: Literal["conversation", "generation"] = "conversation"  # what sampling keeps together
    judge_budget_per_minute: int = DEFAULT_JUDGE_BUDGET_PER_MINUTE  # llm_judge runs started per minute; 0 = no limit
    enabled: bool = True  # false: the rule runs nothing

    def validate(self) -> list[str]:
        problems = []
        if not self.id.strip():
            problems.append("id: must not be empty")
        if not self.evaluators:
            problems.append("evaluators: at least one evaluator id is required")
        if not 0.0 <= self.sample_rate <= 1.0:
            problems.append("sample_rate: must be between 0 and 1")
        if self.judge_budget_per_minute < 0:
            problems.append("judge_budget_per_minute: must be 0 (no limit) or more")
        problems.extend(f"match: {p}" for p in parse_match(self.match)[1])
        return problems


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class JudgesConfig:
    providers: list[JudgeProviderConfig] = dataclasses.field(default_factory=list)  # what llm_judge configs name
    max_pending: int = DEFAULT_MAX_PENDING  # judgments in flight or waiting; more are dropped and counted
    shutdown_timeout: Duration = Duration(DEFAULT_JUDGE_SHUTDOWN_TIMEOUT)  # wait for them at shutdown

    def validate(self) -> list[str]:
        problems = []
        seen: set[str] = set()
        for i, p in enumerate(self.providers):
            if p.id in seen:
                problems.append(f"providers::{i}::id: provider {p.id!r} is defined twice")
            seen.add(p.id)
        if self.max_pending < 1:
            problems.append("max_pending: must be at least 1")
        return problems


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class EvaluateConfig:
    evaluators: list[EvaluatorConfig] = dataclasses.field(default_factory=list)  # what can run
    rules: list[RuleConfig] = dataclasses.field(default_factory=list)  # what runs on which records
    judges: JudgesConfig = dataclasses.field(default_factory=JudgesConfig)  # llm_judge providers and bounds
    api_store: str = ""  # evaluation store file shared with the sigil receiver's eval_api.store; "" = YAML only

    def validate(self) -> list[str]:
        problems = []
        if self.api_store:
            try:
                open_store(self.api_store)
            except StoreError as exc:
                problems.append(f"api_store: {exc}")
        if not self.rules and not self.api_store:
            problems.append("rules: at least one rule is required (or api_store, to manage rules through the API)")
        providers = {p.id for p in self.judges.providers}
        defined: set[str] = set()
        for i, e in enumerate(self.evaluators):
            if e.id in defined:
                problems.append(f"evaluators::{i}::id: evaluator {e.id!r} is defined twice")
            defined.add(e.id)
            provider = e.config.get("provider") if e.kind == "llm_judge" else None
            if isinstance(provider, str) and provider.strip() and provider.strip() not in providers:
                known = ", ".join(sorted(providers)) or "none"
                problems.append(
                    f"evaluators::{i}::config::provider: judge provider {provider.strip()!r} is not defined "
                    f"under judges.providers (defined: {known})"
                )
        rule_ids: set[str] = set()
        for i, r in enumerate(self.rules):
            if r.id in rule_ids:
                problems.append(f"rules::{i}::id: rule {r.id!r} is defined twice")
            rule_ids.add(r.id)
            for j, ref in enumerate(r.evaluators):
                if ref not in defined:
                    problems.append(f"rules::{i}::evaluators::{j}: evaluator {ref!r} is not defined under evaluators")
        return problems


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


def _compile_yaml(cfg: EvaluateConfig) -> tuple[dict[str, Evaluator], list[Rule], Attachment]:
    evaluators: dict[str, Evaluator] = {}
    definitions: dict[str, dict[str, Any]] = {}
    for e in cfg.evaluators:
        compiled, problems = compile_evaluator(e.id, e.kind, e.version, e.config, e.output_keys, e.score_key)
        if compiled is None:  # validated at load; only a hand-built config gets here
            raise ValueError(f"evaluator {e.id}: {'; '.join(problems)}")
        evaluators[e.id] = compiled
        definitions[e.id] = evaluator_definition(e.id, e.kind, e.version, e.config, compiled.output, e.description)
    rules, rule_defs = [], {}
    for r in cfg.rules:
        match, _ = parse_match(r.match)
        rule_defs[r.id] = {
            "rule_id": r.id,
            "enabled": r.enabled,
            "selector": r.selector,
            "match": {k: list(v) for k, v in match.items()},
            "sample_rate": r.sample_rate,
            "evaluator_ids": list(r.evaluators),
            "alert_rule_uids": [],
        }
        if r.enabled:
            chosen = tuple(evaluators[ref] for ref in r.evaluators)
            rules.append(Rule(r.id, r.selector, r.sample_rate, r.sample_by, match, r.judge_budget_per_minute, chosen))
    return evaluators, rules, Attachment(definitions, rule_defs, {})


class EvaluateProcessor:
    capabilities = Capabilities()  # reads records; adds scores to the batch's own list

    def __init__(self, settings: CreateSettings, cfg: EvaluateConfig, next_: Consumer) -> None:
        self._next = next_
        self._id = str(settings.id)
        self._t = settings.telemetry
        self._warn = RateLimitedLog(log)
        self._evaluators, self._rules, attachment = _compile_yaml(cfg)
        for e in self._evaluators.values():
            if isinstance(e.impl, evaluators.JsonSchemaEvaluator) and (ignored := e.impl.unsupported_keywords()):
                log.warning(
                    "processor %s: evaluator %s: JSON Schema keywords %s are not checked (only %s are)",
                    self._id,
                    e.id,
                    ", ".join(sorted(ignored)),
                    ", ".join(evaluators.SCHEMA_SUBSET),
                )
        self._clients = {p.id: JudgeClient(p) for p in cfg.judges.providers}
        for p in cfg.judges.providers:
            if not p.api_key:  # fine for a local server; a forgotten ${env:…} otherwise
                log.warning("processor %s: judge provider %s has no api_key (is its variable set?)", self._id, p.id)
        self._attachment = dataclasses.replace(attachment, providers={k: c.info() for k, c in self._clients.items()})
        self._judging = Judging(
            self._id,
            self._t,
            self._clients,
            next_,
            max_pending=cfg.judges.max_pending,
            shutdown_timeout=float(cfg.judges.shutdown_timeout),
        )
        self._store: EvalStore | None = None
        # One instance per pipeline that lists this processor: each attaches on its own.
        self._owner = f"{self._id}@{settings.pipeline}#{id(self)}"
        if cfg.api_store:
            try:
                self._store = open_store(cfg.api_store)
            except StoreError as exc:
                raise ValueError(str(exc)) from None
        self._generation = -1
        self._by_tenant: dict[str, list[Rule]] = {}
        self._budgets: dict[tuple[str, str], tuple[int, int]] = {}  # (tenant, rule) -> (minute, started)

    async def start(self) -> None:
        if self._store is not None:
            self._store.attach(self._owner, self._attachment)

    async def shutdown(self) -> None:
        if self._store is not None:
            self._store.detach(self._owner)
        await self._judging.shutdown()
        for client in self._clients.values():
            await client.close()

    # -- rules ------------------------------------------------------------------------------

    def _rules_for(self, tenant: str) -> list[Rule]:
        store = self._store
        if store is None:
            return self._rules
        store.refresh()
        if store.generation != self._generation or len(self._by_tenant) > MAX_TENANTS_CACHED:
            self._by_tenant.clear()
            self._generation = store.generation
        rules = self._by_tenant.get(tenant)
        if rules is None:
            rules = self._by_tenant[tenant] = self._rules + self._stored_rules(store, tenant)
        return rules

    def _stored_rules(self, store: EvalStore, tenant: str) -> list[Rule]:
        """The tenant's API-made rules, compiled; a definition that no longer compiles is
        skipped with a warning (the API validated it, but the file may have been edited)."""
        compiled: dict[str, Evaluator | None] = {}

        def evaluator(eid: str) -> Evaluator | None:
            if eid in self._evaluators:
                return self._evaluators[eid]
            if eid not in compiled:
                d = store.stored(tenant, "evaluators").get(eid) or store.config_evaluator(eid)
                ev = None
                if d is not None:
                    ev, problems = compile_evaluator(
                        eid, d.get("kind", ""), str(d.get("version", "")), d.get("config"), d.get("output_keys")
                    )
                    if ev is None:
                        self._warn.warning(
                            f"bad:{eid}", "%s: stored evaluator %s is invalid: %s", self._id, eid, problems
                        )
                compiled[eid] = ev
            return compiled[eid]

        out = []
        for rid, d in sorted(store.stored(tenant, "rules").items()):
            if not d.get("enabled", True) or store.config_rule(rid) is not None:
                continue
            ids, selector, rate = d.get("evaluator_ids"), d.get("selector") or "user_visible_turn", d.get("sample_rate")
            chosen = (
                [evaluator(e) if isinstance(e, str) else None for e in ids] if isinstance(ids, list) and ids else [None]
            )
            match, problems = parse_match(d.get("match"))
            valid_rate = isinstance(rate, int | float) and not isinstance(rate, bool) and 0 <= rate <= 1
            if None in chosen or problems or selector not in SELECTORS or not valid_rate:
                self._warn.warning(
                    f"rule:{rid}",
                    "%s: stored rule %s is skipped: unknown evaluator, bad selector, match or sample_rate",
                    self._id,
                    rid,
                )
                continue
            assert isinstance(rate, int | float)
            budget = d.get("judge_budget_per_minute", DEFAULT_JUDGE_BUDGET_PER_MINUTE)
            if not isinstance(budget, int) or isinstance(budget, bool) or budget < 0:
                budget = DEFAULT_JUDGE_BUDGET_PER_MINUTE
            evaluators = tuple(e for e in chosen if e is not None)
            out.append(Rule(rid, selector, float(rate), "conversation", match, budget, evaluators))
        return out

    def _within_budget(self, tenant: str, rule: Rule) -> bool:
        if rule.judge_budget_per_minute <= 0:
            return True
        minute = int(time.monotonic() // 60)
        start, used = self._budgets.get((tenant, rule.id), (minute, 0))
        if start != minute:
            used = 0
        if used >= rule.judge_budget_per_minute:
            return False
        if len(self._budgets) > MAX_TENANTS_CACHED:
            self._budgets.clear()
        self._budgets[(tenant, rule.id)] = (minute, used + 1)
        return True

    # -- records ----------------------------------------------------------------------------

    async def consume(self, batch: Batch) -> None:
        # Deterministic evaluators are linear in texts already in memory: inline, per batch.
        # Judge jobs start only once the batch is passed on, so no score overtakes its generation.
        now = time.time_ns()
        tenant = batch.context.tenant
        jobs: list[Job] = []
        rules = self._rules_for(tenant)
        for record in batch.records if rules else ():
            variables: dict[str, str] | None = None
            for rule in rules:
                if not selector_matches(rule.selector, record) or not match_record(rule.match, record):
                    continue
                key = record.id if rule.sample_by == "generation" else (record.conversation_id or record.id)
                if not should_sample(tenant, key, rule.id, rule.sample_rate):
                    continue
                for ev in rule.evaluators:
                    if not record.id:
                        self._t.processor_evaluations.labels(self._id, ev.id, "no_id").inc()
                    elif ev.judge is None:
                        batch.scores.append(self._score(ev, rule, record, tenant, now))
                    elif not self._within_budget(tenant, rule):
                        self._t.processor_evaluations.labels(self._id, ev.id, "over_budget").inc()
                    else:
                        variables = variables if variables is not None else template_vars(record)
                        jobs.append(self._job(ev, rule, record, batch, variables))
        await self._next.consume(batch)
        for job in jobs:
            self._judging.submit(job)

    def _job(self, ev: Evaluator, rule: Rule, record: Record, batch: Batch, variables: dict[str, str]) -> Job:
        spec = ev.judge
        assert spec is not None
        work = work_id(batch.context.tenant, record.id, rule.id, ev.id, ev.version)
        return Job(
            score_id=derived_score_id(work, ev.output.key),
            evaluator_id=ev.id,
            evaluator_version=ev.version,
            output=ev.output,
            provider=spec.provider,
            request=JudgeRequest(
                spec.model,
                render(spec.system_prompt, variables),
                render(spec.user_prompt, variables),
                spec.max_tokens,
                spec.temperature,
                spec.timeout_ms / 1000,
            ),
            rule_id=rule.id,
            generation_id=record.id,
            conversation_id=record.conversation_id,
            trace_id=record.trace_id,
            span_id=record.span_id,
            context=dataclasses.replace(batch.context, headers=dict(batch.context.headers)),
            source_kind=SOURCE_KIND,
        )

    def _score(self, ev: Evaluator, rule: Rule, record: Record, tenant: str, now: int) -> Score:
        assert ev.impl is not None
        verdict = ev.impl.evaluate(record)
        self._t.processor_evaluations.labels(self._id, ev.id, "passed" if verdict.passed else "failed").inc()
        work = work_id(tenant, record.id, rule.id, ev.id, ev.version)
        return Score(
            id=derived_score_id(work, ev.output.key),
            generation_id=record.id,
            evaluator_id=ev.id,
            evaluator_version=ev.version,
            key=ev.output.key,
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
    "Runs Sigil evaluators (regex, json_schema, heuristic, llm_judge) on records and adds their scores; "
    "llm_judge scores follow their generation without delaying it.",
)
