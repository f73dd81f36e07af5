"""llm_judge: answer parsing, templates, config texts, and the processor against fake OpenAI- and
Anthropic-compatible judges on loopback (slow, failing, garbage). Delivery is asserted by counts
and order: the generation's batch is passed on before any judge answers, whatever the judge does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from gateway.component import ComponentId, CreateSettings
from gateway.config import load
from gateway.errors import ConfigError, Overloaded
from gateway.evaluation.llm_judge import (
    TEMPLATE_FIELDS,
    OutputKey,
    Parsed,
    Unparsable,
    parse_answer,
    render,
    template_vars,
)
from gateway.model import (
    Batch,
    Context,
    Kind,
    Message,
    Part,
    PartKind,
    Record,
    Role,
    Status,
    ToolDefinition,
    derived_score_id,
)
from gateway.processors.evaluate import EvaluateConfig, EvaluateProcessor, work_id
from gateway.telemetry import Telemetry
from tests.judge_fakes import FakeJudge

# -- answers ------------------------------------------------------------------------------------

NUMBER = OutputKey("helpfulness", "number", pass_threshold=7, min=0, max=10)
BOOL = OutputKey("grounded", "bool")
LABEL = OutputKey("tone", "string", enum=("polite", "neutral", "rude"), pass_match=("polite", "neutral"))


@pytest.mark.parametrize(
    ("text", "out", "expected"),
    [
        ('{"score": 8, "explanation": " clear "}', NUMBER, Parsed(8.0, True, "clear")),
        ('{"helpfulness": 3}', NUMBER, Parsed(3.0, False, "")),
        ('{"score": 9, "passed": false}', NUMBER, Parsed(9.0, False, "")),  # the judge's verdict wins
        ("Score: 6.5/10", NUMBER, Parsed(6.5, False, "")),
        ('```json\n{"score": 10}\n```', NUMBER, Parsed(10.0, True, "")),
        ("True.", BOOL, Parsed(True, True, "")),
        ('"false"', BOOL, Parsed(False, False, "")),
        ('{"value": true, "explanation": "cites the doc"}', BOOL, Parsed(True, True, "cites the doc")),
        ("POLITE", LABEL, Parsed("polite", True, "")),
        ('{"score": "rude"}', LABEL, Parsed("rude", False, "")),
        ("whatever", OutputKey("note", "string"), Parsed("whatever", None, "")),
        ('{"score": 5}', OutputKey("raw", "number"), Parsed(5.0, None, "")),
        ("false", OutputKey("ok", "bool", pass_value=False), Parsed(False, True, "")),
    ],
)
def test_answers_are_read_like_the_server(text: str, out: OutputKey, expected: Parsed) -> None:
    assert parse_answer(text, out) == expected


@pytest.mark.parametrize(
    ("text", "out", "message"),
    [
        ("  ", NUMBER, "judge response was empty"),
        ("I cannot judge this.", NUMBER, "judge response did not include a numeric score"),
        ("42", NUMBER, "judge score 42 is outside [0, 10]"),
        ('{"score": "high"}', NUMBER, "judge response score must be number"),
        ('{"rating": 5}', NUMBER, "judge response JSON did not include score"),
        ("maybe", BOOL, "judge response did not include a bool score"),
        ('{"score": 1}', BOOL, "judge response score must be bool"),
        ("sarcastic", LABEL, "judge label 'sarcastic' is not one of polite, neutral, rude"),
    ],
)
def test_garbage_answers_are_unparsable(text: str, out: OutputKey, message: str) -> None:
    with pytest.raises(Unparsable) as info:
        parse_answer(text, out)
    assert str(info.value) == message


# -- templates ----------------------------------------------------------------------------------


def _record(answer: str = "Paris is the capital.", rid: str = "gen-1", conversation: str = "conv-1") -> Record:
    return Record(
        kind=Kind.LLM,
        id=rid,
        conversation_id=conversation,
        trace_id="a" * 32,
        span_id="b" * 16,
        system_prompt=" Be brief. ",
        input=[
            Message(Role.USER, [Part(PartKind.TEXT, text="Hi")]),
            Message(Role.ASSISTANT, [Part(PartKind.TEXT, text="Hello")]),
            Message(Role.USER, [Part(PartKind.TEXT, text="Capital of France?")]),
        ],
        output=[Message(Role.ASSISTANT, [Part(PartKind.THINKING, text="easy"), Part(PartKind.TEXT, text=answer)])],
        stop_reason="stop",
    )


def test_template_fields_are_the_servers() -> None:
    r = _record("  It is <Paris>.  ")
    r.tools = [ToolDefinition(name="search", description="Web search", type="function")]
    r.output[0].parts.append(
        Part(PartKind.TOOL_CALL, tool_name="search", tool_call_id="c1", tool_input_json=b'{"q":1}')
    )
    r.error_message, r.status = "rate limited", Status.ERROR
    v = template_vars(r)
    assert v["assistant_response"] == v["output"] == v["response"] == "It is <Paris>."
    assert v["latest_user_message"] == v["input"] == "Capital of France?"
    assert (
        v["user_history"] == '<message index="1">\nHi\n</message>\n<message index="2">\nCapital of France?\n</message>'
    )
    assert v["system_prompt"] == "Be brief."
    assert v["assistant_thinking"] == "<thinking>easy</thinking>"
    assert v["tool_calls"] == '<tool_call name="search" id="c1">\n{"q":1}\n</tool_call>'
    assert v["assistant_sequence"].splitlines()[:2] == [
        "<thinking>easy</thinking>",
        "<text>It is &lt;Paris&gt;.</text>",
    ]
    assert v["tools"] == '<tool name="search" type="function">\n<description>Web search</description>\n</tool>'
    assert (v["call_error"], v["error"], v["stop_reason"]) == ("rate limited", "rate limited", "stop")
    assert (v["generation_id"], v["conversation_id"]) == ("gen-1", "conv-1")
    assert set(v) == set(TEMPLATE_FIELDS)  # what docs/configuration.md lists
    text = render("Q: {{ input }}\nA: {{assistant_response}}\n{{unknown}}", v)
    assert text == "Q: Capital of France?\nA: It is <Paris>.\n{{unknown}}"


# -- config -------------------------------------------------------------------------------------


def _raw(evaluate: dict[str, Any]) -> dict[str, Any]:
    return {
        "receivers": {"sigil": {"http": {}}},
        "processors": {"evaluate": evaluate},
        "exporters": {"debug": {}},
        "service": {"pipelines": {"p": {"receivers": ["sigil"], "processors": ["evaluate"], "exporters": ["debug"]}}},
    }


def test_llm_judge_config_problems_are_exact() -> None:
    evaluate = {
        "judges": {"providers": [{"id": "openai", "base_url": "api.openai.com", "max_concurrency": 0}]},
        "evaluators": [
            {"id": "a", "kind": "llm_judge", "config": {"provider": "local", "model": "m"}},
            {"id": "b", "kind": "llm_judge", "config": {"provider": "openai", "model": "anthropic/claude"}},
            {
                "id": "c",
                "kind": "llm_judge",
                "config": {"provider": "openai", "model": "m", "max_tokens": 0, "timeout_ms": "5s", "top_k": 3},
                "output_keys": [{"key": "x", "type": "float"}],
            },
        ],
        "rules": [{"id": "r", "evaluators": ["a"], "match": {"user": "x"}, "judge_budget_per_minute": -1}],
    }
    with pytest.raises(ConfigError) as info:
        load(_raw(evaluate), environ={})
    assert info.value.problems == [
        "processors::evaluate::judges::providers::0::base_url: must start with http:// or https://",
        "processors::evaluate::judges::providers::0::max_concurrency: must be at least 1",
        "processors::evaluate::evaluators::1::config::model: llm_judge evaluator model provider 'anthropic' does not "
        "match provider 'openai'",
        "processors::evaluate::evaluators::2::config::top_k: unknown key (valid keys: provider, model, system_prompt, "
        "user_prompt, max_tokens, temperature, timeout_ms)",
        "processors::evaluate::evaluators::2::config::max_tokens: expected an integer >= 1",
        "processors::evaluate::evaluators::2::config::timeout_ms: expected an integer >= 1 (milliseconds)",
        "processors::evaluate::evaluators::2::output_keys::0::type: output key 'x' has invalid type "
        "(one of number, bool, string)",
        "processors::evaluate::rules::0::judge_budget_per_minute: must be 0 (no limit) or more",
        "processors::evaluate::rules::0::match: unsupported match key 'user'",
    ]


def test_unknown_provider_is_named() -> None:
    evaluate = {
        "judges": {"providers": [{"id": "openai", "base_url": "http://127.0.0.1:1/v1"}]},
        "evaluators": [{"id": "a", "kind": "llm_judge", "config": {"provider": "local", "model": "m"}}],
        "rules": [{"id": "r", "evaluators": ["a"]}],
    }
    with pytest.raises(ConfigError) as info:
        load(_raw(evaluate), environ={})
    assert info.value.problems == [
        "processors::evaluate::evaluators::0::config::provider: judge provider 'local' is not defined under "
        "judges.providers (defined: openai)"
    ]


# -- the processor against fake judges ------------------------------------------------------


class Sink:
    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self.changed = asyncio.Event()

    async def consume(self, batch: Batch) -> None:
        self.batches.append(batch)
        self.changed.set()

    async def wait_for(self, n: int) -> None:
        while len(self.batches) < n:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 10)

    def scores(self) -> list[Any]:
        return [s for b in self.batches for s in b.scores]


@pytest.fixture
async def openai_judge() -> AsyncIterator[FakeJudge]:
    judge = FakeJudge("openai")
    await judge.start()
    yield judge
    await judge.stop()


@pytest.fixture
async def anthropic_judge() -> AsyncIterator[FakeJudge]:
    judge = FakeJudge("anthropic", text="true")
    await judge.start()
    yield judge
    await judge.stop()


Make = Callable[..., tuple[EvaluateProcessor, Sink]]


def _make(
    judge: FakeJudge,
    t: Telemetry,
    *,
    provider: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    output_keys: list[dict[str, Any]] | None = None,
    rule: dict[str, Any] | None = None,
    judges: dict[str, Any] | None = None,
    sink: Sink | None = None,
) -> tuple[EvaluateProcessor, Sink]:
    evaluate = {
        "judges": {
            "providers": [
                {
                    "id": "judge",
                    "api": judge.api,
                    "base_url": judge.base_url,
                    "api_key": "sk-test",
                    "retry_backoff": "1ms",
                    "requests_per_minute": 0,
                    **(provider or {}),
                }
            ],
            **(judges or {}),
        },
        "evaluators": [
            {
                "id": "helpful",
                "kind": "llm_judge",
                "config": {
                    "provider": "judge",
                    "model": "gpt-4o-mini",
                    "system_prompt": "You grade answers.",
                    "user_prompt": "Question: {{latest_user_message}}\nAnswer: {{assistant_response}}",
                    **(config or {}),
                },
                "output_keys": output_keys
                if output_keys is not None
                else [{"key": "helpfulness", "type": "number", "pass_threshold": 7}],
            }
        ],
        "rules": [{"id": "visible", "evaluators": ["helpful"], **(rule or {})}],
    }
    cfg = load(_raw(evaluate), environ={}).processors[ComponentId("evaluate")].config
    assert isinstance(cfg, EvaluateConfig)
    sink = sink if sink is not None else Sink()
    return EvaluateProcessor(CreateSettings(id=ComponentId("evaluate"), telemetry=t), cfg, sink), sink


def _outcome(t: Telemetry, outcome: str) -> float:
    return float(t.processor_evaluations.labels("evaluate", "helpful", outcome)._value.get())


async def test_openai_judge_score_follows_the_generation(openai_judge: FakeJudge) -> None:
    t = Telemetry()
    proc, sink = _make(openai_judge, t)
    record = _record()
    await proc.consume(Batch([record], Context(tenant="team-a", bearer_token="tok")))
    assert len(sink.batches) == 1 and sink.batches[0].records == [record] and sink.batches[0].scores == []
    await sink.wait_for(2)
    await proc.shutdown()
    score_batch = sink.batches[1]
    assert score_batch.records == [] and score_batch.context.tenant == "team-a"
    assert score_batch.context.bearer_token == "tok"  # the generation's credentials travel on
    (score,) = score_batch.scores
    assert score.id == derived_score_id(work_id("team-a", "gen-1", "visible", "helpful", "1"), "helpfulness")
    assert (score.generation_id, score.conversation_id, score.trace_id, score.span_id) == (
        "gen-1",
        "conv-1",
        "a" * 32,
        "b" * 16,
    )
    assert (score.key, score.value, score.passed, score.explanation) == ("helpfulness", 8.0, True, "clear and correct")
    assert (score.rule_id, score.source_kind, score.source_id, score.evaluator_version) == (
        "visible",
        "online_rule",
        "visible",
        "1",
    )
    assert score.metadata["judge_provider"] == "judge" and score.metadata["judge_model"] == "gpt-4o-mini"
    assert (score.metadata["judge_input_tokens"], score.metadata["judge_output_tokens"]) == (120, 14)
    (seen,) = openai_judge.requests
    assert seen.path == "/v1/chat/completions" and seen.headers["Authorization"] == "Bearer sk-test"
    assert seen.body == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You grade answers."},
            {"role": "user", "content": "Question: Capital of France?\nAnswer: Paris is the capital."},
        ],
        "max_tokens": 256,
        "temperature": 0.0,
    }
    assert _outcome(t, "passed") == 1
    assert t.judge_requests.labels("evaluate", "judge", "ok")._value.get() == 1
    assert t.judge_tokens.labels("evaluate", "judge", "gpt-4o-mini", "input")._value.get() == 120
    assert t.judge_tokens.labels("evaluate", "judge", "gpt-4o-mini", "cache_read")._value.get() == 100
    assert t.judge_cost.labels("evaluate", "judge", "gpt-4o-mini")._value.get() > 0  # priced from the bundled table


async def test_anthropic_judge_bool_score(anthropic_judge: FakeJudge) -> None:
    t = Telemetry()
    proc, sink = _make(
        anthropic_judge,
        t,
        config={"model": "claude-3-5-haiku-latest", "max_tokens": 50, "temperature": 0.2},
        output_keys=[{"key": "grounded", "type": "bool"}],
    )
    await proc.consume(Batch([_record()], Context(tenant="t")))
    await sink.wait_for(2)
    await proc.shutdown()
    (score,) = sink.scores()
    assert (score.key, score.value, score.passed) == ("grounded", True, True)
    (seen,) = anthropic_judge.requests
    assert seen.path == "/v1/messages"
    assert (seen.headers["x-api-key"], seen.headers["anthropic-version"]) == ("sk-test", "2023-06-01")
    assert seen.body["system"] == "You grade answers." and seen.body["max_tokens"] == 50
    assert seen.body["messages"] == [
        {"role": "user", "content": "Question: Capital of France?\nAnswer: Paris is the capital."}
    ]


async def test_retryable_failures_are_retried_within_the_bound(openai_judge: FakeJudge) -> None:
    t = Telemetry()
    openai_judge.statuses = [503, 429]
    proc, sink = _make(openai_judge, t, provider={"max_retries": 2})
    await proc.consume(Batch([_record()], Context(tenant="t")))
    await sink.wait_for(2)
    await proc.shutdown()
    assert len(openai_judge.requests) == 3 and len(sink.scores()) == 1
    assert t.judge_requests.labels("evaluate", "judge", "retried")._value.get() == 2


@pytest.mark.parametrize(("status", "attempts"), [(500, 2), (401, 1)])
async def test_judge_failures_lose_no_generation(openai_judge: FakeJudge, status: int, attempts: int) -> None:
    t = Telemetry()
    openai_judge.status = status
    proc, sink = _make(openai_judge, t, provider={"max_retries": 1})
    records = [_record(rid=f"g{i}", conversation=f"c{i}") for i in range(3)]
    await proc.consume(Batch(records, Context(tenant="t")))
    await proc.shutdown()  # waits for the judgments
    assert [b.records for b in sink.batches] == [records]  # delivered once, no score batch
    assert _outcome(t, "judge_error") == 3
    assert len(openai_judge.requests) == 3 * attempts  # 5xx retried once, 401 never
    assert t.judge_requests.labels("evaluate", "judge", "error")._value.get() == 3


async def test_garbage_answers_are_counted_not_scored(openai_judge: FakeJudge) -> None:
    t = Telemetry()
    openai_judge.garbage = True
    proc, sink = _make(openai_judge, t)
    await proc.consume(Batch([_record("a", rid="g1", conversation="c1")], Context(tenant="t")))
    await proc.shutdown()
    assert len(openai_judge.requests) == 1  # a 200 that is not JSON is not retried
    assert _outcome(t, "judge_error") == 1 and sink.scores() == []
    t2 = Telemetry()
    openai_judge.garbage, openai_judge.text = False, "I'd rather not say."
    proc, sink = _make(openai_judge, t2)
    await proc.consume(Batch([_record()], Context(tenant="t")))
    await proc.shutdown()
    assert _outcome(t2, "unparsable") == 1 and sink.scores() == [] and len(sink.batches) == 1


async def test_slow_judge_times_out_and_the_generation_is_already_delivered(openai_judge: FakeJudge) -> None:
    t = Telemetry()
    openai_judge.hang = True
    proc, sink = _make(openai_judge, t, config={"timeout_ms": 200}, provider={"max_retries": 1})
    records = [_record(rid=f"g{i}", conversation=f"c{i}") for i in range(4)]
    await proc.consume(Batch(records[:2], Context(tenant="t")))
    await proc.consume(Batch(records[2:], Context(tenant="t")))
    # Both batches went on while every judge call is still hanging.
    assert [b.records for b in sink.batches] == [records[:2], records[2:]]
    await proc.shutdown()
    assert _outcome(t, "judge_timeout") == 4
    assert 1 <= len(openai_judge.requests) <= 8  # at most one retry each, then given up
    assert t.judge_requests.labels("evaluate", "judge", "timeout")._value.get() == 4
    assert len(sink.batches) == 2


async def test_budget_and_pending_bounds(openai_judge: FakeJudge) -> None:
    t = Telemetry()
    openai_judge.hang = True
    proc, sink = _make(
        openai_judge,
        t,
        rule={"judge_budget_per_minute": 3},
        judges={"max_pending": 2, "shutdown_timeout": "50ms"},
    )
    records = [_record(rid=f"g{i}", conversation=f"c{i}") for i in range(5)]
    await proc.consume(Batch(records, Context(tenant="t")))
    assert [b.records for b in sink.batches] == [records]
    assert (_outcome(t, "over_budget"), _outcome(t, "queue_full")) == (2, 1)
    assert t.judgments_pending.labels("evaluate")._value.get() == 2
    await proc.shutdown()  # the judge never answers: the two in flight are cancelled
    assert _outcome(t, "shutdown") == 2 and len(sink.batches) == 1
    await proc.consume(Batch([_record(rid="late", conversation="late")], Context(tenant="other")))
    assert len(sink.batches) == 2 and _outcome(t, "shutdown") == 3  # after shutdown: passed on, not judged


async def test_shutdown_waits_for_judgments_in_flight(openai_judge: FakeJudge) -> None:
    t = Telemetry()
    openai_judge.hang = True
    proc, sink = _make(openai_judge, t)
    await proc.consume(Batch([_record()], Context(tenant="t")))
    while not openai_judge.requests:
        await asyncio.sleep(0.01)
    stopping = asyncio.create_task(proc.shutdown())
    await asyncio.sleep(0)
    assert not stopping.done()
    openai_judge.release()
    await stopping
    assert len(sink.batches) == 2 and len(sink.scores()) == 1  # the score made it before shutdown returned


async def test_sampling_and_selectors_apply_to_judges(openai_judge: FakeJudge) -> None:
    t = Telemetry()
    proc, sink = _make(openai_judge, t, rule={"sample_rate": 0.0})
    await proc.consume(Batch([_record()], Context(tenant="t")))
    proc2, sink2 = _make(openai_judge, t, rule={"match": {"model.name": "claude-*"}})
    tool_step = _record(rid="tool")
    tool_step.output[0].parts.append(Part(PartKind.TOOL_CALL, tool_name="x"))  # not a user-visible turn
    other_model = _record(rid="gpt")
    other_model.model = "gpt-4o"
    await proc2.consume(Batch([tool_step, other_model], Context(tenant="t")))
    await proc.shutdown()
    await proc2.shutdown()
    assert openai_judge.requests == [] and sink.scores() == [] and sink2.scores() == []


async def test_requests_per_minute_holds_calls_back(openai_judge: FakeJudge) -> None:
    t = Telemetry()
    proc, sink = _make(openai_judge, t, provider={"requests_per_minute": 1}, judges={"shutdown_timeout": "50ms"})
    await proc.consume(Batch([_record(rid="g1", conversation="c1"), _record(rid="g2", conversation="c2")], Context()))
    await sink.wait_for(2)  # the first judgment used the minute's only token
    await proc.shutdown()  # the second still waits for one: cancelled, counted
    assert len(openai_judge.requests) == 1 and len(sink.scores()) == 1
    assert (_outcome(t, "passed"), _outcome(t, "shutdown")) == (1, 1)


async def test_long_answers_are_read_whole_and_runaway_ones_refused(openai_judge: FakeJudge) -> None:
    t = Telemetry()
    openai_judge.text = '{"score": 9, "explanation": "' + "x" * 300_000 + '"}'  # many chunks on the wire
    proc, sink = _make(openai_judge, t)
    await proc.consume(Batch([_record()], Context()))
    await sink.wait_for(2)
    await proc.shutdown()
    (score,) = sink.scores()
    assert score.value == 9.0 and len(score.explanation) == 300_000
    openai_judge.text = "y" * 1_100_000
    proc, sink = _make(openai_judge, t)
    await proc.consume(Batch([_record(rid="g2")], Context()))
    await proc.shutdown()
    assert _outcome(t, "judge_error") == 1 and sink.scores() == []


class FlakySink(Sink):
    """Takes generations; refuses the first score batch, then fails with a bug."""

    async def consume(self, batch: Batch) -> None:
        if batch.records:
            await super().consume(batch)
        elif not getattr(self, "refused", False):
            self.refused = True
            raise Overloaded("queue full")
        else:
            raise RuntimeError("a bug downstream")


async def test_a_failing_pipeline_is_counted_not_raised(openai_judge: FakeJudge) -> None:
    t = Telemetry()
    sink = FlakySink()
    for n in range(2):
        proc, _ = _make(openai_judge, t, sink=sink)
        await proc.consume(Batch([_record(rid=f"g{n}", conversation=f"c{n}")], Context()))
        await proc.shutdown()
    assert len(sink.batches) == 2  # both generations went on
    assert (_outcome(t, "score_refused"), _outcome(t, "internal_error")) == (1, 1)
