"""Asynchronous ``llm_judge`` runs for the evaluate processor: the generation never waits.

The processor passes each batch on first and only then hands its judge jobs here (so a score
can never overtake its generation). Each job is a task: it asks the judge (the provider's
concurrency, rate and retry bounds apply, :mod:`gateway.evaluation.judge`), reads the answer
(:mod:`gateway.evaluation.llm_judge`), and sends the score down the same pipeline in a batch
of its own, with the generation's context (tenant, credentials), so exporters deliver it as any
other score (Sigil ``scores:export``, LumiqTrace ``eval_scores``).

Bounds: at most ``max_pending`` jobs exist at once (a job past it is dropped and counted
``queue_full``); every failure is counted by outcome (``gateway_processor_evaluations``) and in
the judge metrics; nothing is retried past the provider's ``max_retries``. Shutdown refuses new
jobs, waits up to ``shutdown_timeout`` for those in flight, then cancels the rest (counted
``shutdown``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

from gateway.component import Consumer
from gateway.errors import ConsumeError
from gateway.evaluation.judge import JudgeClient, JudgeError, JudgeRequest, JudgeResponse, JudgeTimeout
from gateway.evaluation.llm_judge import OutputKey, Unparsable, parse_answer
from gateway.formats.pricing import PriceTable
from gateway.model import Batch, Context, Score, Usage
from gateway.telemetry import RateLimitedLog, Telemetry

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """One (generation, rule, llm_judge evaluator): prompts already rendered, ids for the score."""

    score_id: str
    evaluator_id: str
    evaluator_version: str
    output: OutputKey
    provider: str
    request: JudgeRequest
    rule_id: str
    generation_id: str
    conversation_id: str
    trace_id: str
    span_id: str
    context: Context
    source_kind: str


class Judging:
    def __init__(
        self,
        processor: str,
        telemetry: Telemetry,
        clients: dict[str, JudgeClient],
        next_: Consumer,
        *,
        max_pending: int,
        shutdown_timeout: float,
    ) -> None:
        self._id = processor
        self._t = telemetry
        self._clients = clients
        self._next = next_
        self._max_pending = max_pending
        self._shutdown_timeout = shutdown_timeout
        self._tasks: dict[asyncio.Task[None], Job] = {}
        self._closed = False
        self._prices: PriceTable | None = None
        self._warn = RateLimitedLog(log)
        self._pending = telemetry.judgments_pending.labels(processor)

    def _count(self, job: Job, outcome: str) -> None:
        self._t.processor_evaluations.labels(self._id, job.evaluator_id, outcome).inc()

    def submit(self, job: Job) -> None:
        """Starts the job unless the processor is stopping or ``max_pending`` jobs are running."""
        if self._closed:
            self._count(job, "shutdown")
            return
        if len(self._tasks) >= self._max_pending:
            self._count(job, "queue_full")
            self._warn.warning(
                "queue_full",
                "%s: %d judgments pending; dropping new ones (judge too slow?)",
                self._id,
                len(self._tasks),
            )
            return
        task = asyncio.get_running_loop().create_task(self._run(job))
        self._tasks[task] = job
        self._pending.set(len(self._tasks))
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        self._pending.set(len(self._tasks))

    async def _run(self, job: Job) -> None:
        try:
            await self._judge(job)
        except Exception:  # a bug must not leave an unobserved task error behind; CancelledError passes
            self._count(job, "internal_error")
            log.exception("%s: judging %s for %s failed", self._id, job.evaluator_id, job.generation_id)

    async def _judge(self, job: Job) -> None:
        client = self._clients.get(job.provider)
        if client is None:
            self._count(job, "no_provider")
            self._warn.warning(
                f"provider:{job.provider}",
                "%s: evaluator %s names judge provider %r, which this processor does not configure",
                self._id,
                job.evaluator_id,
                job.provider,
            )
            return
        try:
            response = await client.judge(job.request)
        except JudgeError as exc:
            self._retried(job, exc.attempts)
            timeout = isinstance(exc, JudgeTimeout)
            self._t.judge_requests.labels(self._id, job.provider, "timeout" if timeout else "error").inc()
            self._count(job, "judge_timeout" if timeout else "judge_error")
            self._warn.warning(f"judge:{job.provider}", "%s: judge %s: %s", self._id, job.provider, exc)
            return
        self._retried(job, response.attempts)
        self._t.judge_requests.labels(self._id, job.provider, "ok").inc()
        self._usage(client, job.request.model, response)
        try:
            parsed = parse_answer(response.text, job.output)
        except Unparsable as exc:
            self._count(job, "unparsable")
            self._warn.warning(
                f"unparsable:{job.evaluator_id}", "%s: evaluator %s: %s", self._id, job.evaluator_id, exc
            )
            return
        score = Score(
            id=job.score_id,
            generation_id=job.generation_id,
            evaluator_id=job.evaluator_id,
            evaluator_version=job.evaluator_version,
            key=job.output.key,
            value=parsed.value,
            passed=parsed.passed,
            explanation=parsed.explanation,
            metadata={
                "judge_provider": job.provider,
                "judge_model": job.request.model,
                "judge_latency_ms": response.latency_ms,
                "judge_input_tokens": response.input_tokens,
                "judge_output_tokens": response.output_tokens,
                "judge_cache_read_tokens": response.cache_read_tokens,
            },
            created_ns=time.time_ns(),
            conversation_id=job.conversation_id,
            trace_id=job.trace_id,
            span_id=job.span_id,
            rule_id=job.rule_id,
            source_kind=job.source_kind,
            source_id=job.rule_id,
        )
        try:
            await self._next.consume(Batch([], dataclasses.replace(job.context), scores=[score]))
        except ConsumeError as exc:
            self._count(job, "score_refused")
            self._warn.warning("score_refused", "%s: the pipeline refused a judge score: %s", self._id, exc)
            return
        self._count(job, "scored" if parsed.passed is None else "passed" if parsed.passed else "failed")

    def _retried(self, job: Job, attempts: int) -> None:
        if attempts > 1:  # every attempt before the last failed and was tried again
            self._t.judge_requests.labels(self._id, job.provider, "retried").inc(attempts - 1)

    def _usage(self, client: JudgeClient, model: str, r: JudgeResponse) -> None:
        provider = client.cfg.id
        for kind, n in (("input", r.input_tokens), ("output", r.output_tokens), ("cache_read", r.cache_read_tokens)):
            if n:
                self._t.judge_tokens.labels(self._id, provider, model, kind).inc(n)
        if self._prices is None:
            self._prices = PriceTable()
        usage = Usage(
            input_tokens=r.input_tokens,
            output_tokens=r.output_tokens,
            cache_read_input_tokens=r.cache_read_tokens,
            input_includes_cache=client.cfg.api == "openai",  # OpenAI counts cached tokens in the prompt
        )
        price = self._prices.price(client.price_provider, model, usage)
        if price.usd is not None and price.usd > 0:
            self._t.judge_cost.labels(self._id, provider, model).inc(price.usd)

    async def shutdown(self) -> None:
        """Refuses new jobs, waits (bounded) for those in flight, cancels what is left."""
        self._closed = True
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=self._shutdown_timeout)
        if pending:
            log.warning("%s: %d judgments still waiting at shutdown; cancelled", self._id, len(pending))
            jobs = [self._tasks[t] for t in pending if t in self._tasks]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for job in jobs:
                self._count(job, "shutdown")
