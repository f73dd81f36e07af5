"""The evaluate processor: each evaluator kind on hand-made records with known verdicts, the
server's config error texts, sampling, score ids, and the config messages users see."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from gateway.component import ComponentId, CreateSettings
from gateway.config import load
from gateway.errors import ConfigError
from gateway.evaluation import evaluators as ev
from gateway.model import Batch, Context, Kind, Message, Part, PartKind, Record, Role, Score
from gateway.processors.evaluate import EvaluateConfig, EvaluateProcessor, fnv1a_64, should_sample
from gateway.telemetry import Telemetry


def _record(output: str = "", *, input: str = "", system: str = "", rid: str = "g1", tool: bool = False) -> Record:
    parts = [Part(PartKind.TEXT, text=output)] if output else []
    if tool:
        parts.append(Part(PartKind.TOOL_CALL, tool_name="weather", tool_input_json=b'{"city": "Paris"}'))
    return Record(
        kind=Kind.LLM,
        id=rid,
        conversation_id="c1",
        trace_id="t" * 32,
        span_id="s" * 16,
        system_prompt=system,
        input=[Message(Role.USER, [Part(PartKind.TEXT, text=input)])] if input else [],
        output=[Message(Role.ASSISTANT, parts)],
    )


def _build(kind: str, config: dict[str, Any]) -> ev.Evaluator:
    evaluator, problems = ev.build(kind, config)
    assert problems == []
    assert evaluator is not None
    return evaluator


def _problems(config: dict[str, Any]) -> list[str]:
    raw = {
        "receivers": {"sigil": {"http": {}, "grpc": {}}},
        "processors": {"evaluate": config},
        "exporters": {"debug": {}},
        "service": {"pipelines": {"p": {"receivers": ["sigil"], "processors": ["evaluate"], "exporters": ["debug"]}}},
    }
    with pytest.raises(ConfigError) as info:
        load(raw, environ={})
    return info.value.problems


# -- targets ----------------------------------------------------------------------------------


def test_target_texts_are_built_like_the_server() -> None:
    r = _record("  It is 18C.  ", input="Paris?", system="Be terse.", tool=True)
    r.output[0].parts.insert(0, Part(PartKind.THINKING, text="hidden"))
    assert ev.target_text(r, "response") == 'It is 18C.\n[tool_call] weather {"city": "Paris"}'
    assert ev.target_text(r, "input") == "Paris?"
    assert ev.target_text(r, "system_prompt") == "Be terse."


# -- regex ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "output", "passed", "matched"),
    [
        ({"pattern": r"^\d+$"}, "42", True, True),
        ({"pattern": r"^\d+$"}, "forty-two", False, False),
        ({"pattern": "(?i)sorry", "reject": True}, "Sorry, no.", False, True),
        ({"pattern": "(?i)sorry", "reject": True}, "Here you go.", True, False),
        ({"patterns": ["cat", " ", "dog"]}, "hot dog", True, True),
        ({"pattern": "  ", "patterns": ["x"]}, "x", True, True),  # a blank pattern falls back
    ],
)
def test_regex_verdicts(config: dict[str, Any], output: str, passed: bool, matched: bool) -> None:
    verdict = _build("regex", config).evaluate(_record(output))
    assert verdict.passed is passed
    assert verdict.metadata["matched"] is matched
    assert verdict.metadata["reject"] is config.get("reject", False)


def test_regex_targets() -> None:
    r = _record("answer", input="secret question", system="You are Bob.")
    assert _build("regex", {"pattern": "secret", "target": "input"}).evaluate(r).passed
    assert not _build("regex", {"pattern": "secret"}).evaluate(r).passed
    assert _build("regex", {"pattern": "Bob", "target": "system_prompt"}).evaluate(r).passed
    assert _build("regex", {"pattern": r"\[tool_call\] weather"}).evaluate(_record(tool=True)).passed


# -- json_schema ----------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "required": ["answer"],
    "properties": {
        "answer": {"type": "string"},
        "score": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "ok": {"type": "boolean"},
        "ratio": {"type": "number"},
    },
}


@pytest.mark.parametrize(
    ("text", "explanation"),
    [
        ('{"answer": "42"}', ""),
        ('{"answer": "42", "score": 3.0, "tags": ["a"], "ok": true, "ratio": 1}', ""),
        ('{"answer": "42", "extra": {"anything": [1]}}', ""),
        ("[]", "expected object"),
        ('{"score": 1}', 'missing required key "answer"'),
        ('{"answer": 42}', 'property "answer": expected string'),
        ('{"answer": "a", "score": 1.5}', 'property "score": expected integer'),
        ('{"answer": "a", "score": true}', 'property "score": expected integer'),
        ('{"answer": "a", "tags": ["x", 2]}', 'property "tags": item 1: expected string'),
        ('{"answer": "a", "tags": "x"}', 'property "tags": expected array'),
        ('{"answer": "a", "ok": 1}', 'property "ok": expected boolean'),
        ('{"answer": "a", "ratio": "1"}', 'property "ratio": expected number'),
    ],
)
def test_json_schema_verdicts(text: str, explanation: str) -> None:
    verdict = _build("json_schema", {"schema": SCHEMA}).evaluate(_record(text))
    assert verdict.passed is (explanation == "")
    assert verdict.explanation == explanation
    assert verdict.metadata == ({"error": explanation} if explanation else {})


@pytest.mark.parametrize("text", ["", "{", "{'answer': 1}", '{"a": NaN}', "1e400", '{"a": 1} {"b": 2}'])
def test_json_schema_invalid_json(text: str) -> None:
    verdict = _build("json_schema", {"schema": SCHEMA}).evaluate(_record(text))
    assert (verdict.passed, verdict.explanation) == (False, "response is not valid JSON")
    assert verdict.metadata["error"]


def test_json_schema_empty_schema_and_targets() -> None:
    assert _build("json_schema", {}).evaluate(_record('"just a string"')).passed
    r = _record("not json", input='{"q": 1}', system="[1, 2]")
    assert _build("json_schema", {"schema": {"type": "object"}, "target": "input"}).evaluate(r).passed
    verdict = _build("json_schema", {"schema": {"type": "object"}, "target": "system_prompt"}).evaluate(r)
    assert (verdict.passed, verdict.explanation) == (False, "expected object")
    evaluator = _build("json_schema", {"schema": {"type": "object", "properties": {"a": {"enum": [1]}}}})
    assert isinstance(evaluator, ev.JsonSchemaEvaluator)
    assert evaluator.unsupported_keywords() == {"enum"}


# -- heuristic ------------------------------------------------------------------------------

SEED_RULES = {
    "version": "v2",
    "target": "response",
    "rules": {
        "and": [
            {"not_empty": "assistant_response"},
            {"min_length": {"field": "assistant_response", "value": 10}},
            {"not": {"contains": "as an ai"}},
            {"or": [{"max_length": 40}, {"contains": {"field": "input", "value": "long"}}]},
        ]
    },
}


@pytest.mark.parametrize(
    ("output", "input", "passed"),
    [
        ("Paris is the capital.", "", True),
        ("Too short", "", False),  # 9 bytes
        ("   Ten bytes!   ", "", True),  # trimmed first: 10 bytes
        ("As an AI, I think Paris.", "", False),  # contains is case-insensitive
        ("x" * 41, "", False),
        ("x" * 41, "a LONG answer please", True),
        ("", "", False),
        ("éééééé", "", True),  # 12 UTF-8 bytes, as Go's len() counts
    ],
)
def test_heuristic_seed_rules(output: str, input: str, passed: bool) -> None:
    verdict = _build("heuristic", SEED_RULES).evaluate(_record(output, input=input))
    assert verdict.passed is passed
    assert verdict.metadata["response_length"] == len(output.strip().encode())


def test_heuristic_server_root_form() -> None:
    config = {
        "version": "v2",
        "root": {
            "kind": "group",
            "operator": "or",
            "rules": [
                {"kind": "rule", "type": "not_contains", "value": " refund "},
                {"kind": "group", "operator": "and", "rules": [{"kind": "rule", "type": "max_length", "value": 10.0}]},
            ],
        },
    }
    evaluator = _build("heuristic", config)
    assert evaluator.evaluate(_record("We cannot help.")).passed
    assert not evaluator.evaluate(_record("Ask for a REFUND now.")).passed
    assert evaluator.evaluate(_record("Refund?")).passed  # mentions it, but within 10 bytes
    verdict = evaluator.evaluate(_record("ok"))
    # Metadata as the server writes it: the normalised tree (values trimmed, ints as ints).
    assert verdict.metadata == {
        "response_length": 2,
        "version": "v2",
        "root": {
            "kind": "group",
            "operator": "or",
            "rules": [
                {"kind": "rule", "type": "not_contains", "value": "refund"},
                {"kind": "group", "operator": "and", "rules": [{"kind": "rule", "type": "max_length", "value": 10}]},
            ],
        },
    }


def _root(node: dict[str, Any]) -> dict[str, Any]:
    return {"version": "v2", "root": node}


def _group(*rules: Any, op: str = "and") -> dict[str, Any]:
    return {"kind": "group", "operator": op, "rules": list(rules)}


RULE = {"kind": "rule", "type": "not_empty"}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"root": _group(RULE)}, "heuristic config version is required"),
        ({"version": 2, "root": _group(RULE)}, "heuristic config version must be a string"),
        ({"version": "v1", "root": _group(RULE)}, 'heuristic config version "v1" is unsupported'),
        ({"version": "v2", "root": []}, "heuristic config root must be an object"),
        (_root(RULE), "heuristic config root must be a group"),
        (_root({"operator": "and"}), "heuristic config root kind is required"),
        (_root({"kind": "leaf"}), 'heuristic config root kind "leaf" is invalid'),
        (_root(_group(RULE, op="xor")), 'heuristic config root operator "xor" is invalid'),
        (_root({"kind": "group", "operator": "and"}), "heuristic config root rules are required"),
        (_root({"kind": "group", "operator": "and", "rules": {}}), "heuristic config root rules must be an array"),
        (_root(_group()), "heuristic config root rules must contain at least one node"),
        (_root(_group("x")), "heuristic config root rules[0] must be an object"),
        (_root(_group({"kind": "rule", "type": "regex"})), 'heuristic config root rules[0] type "regex" is invalid'),
        (
            _root(_group({"kind": "rule", "type": "not_empty", "value": 1})),
            'heuristic config root rules[0] value is not supported for rule type "not_empty"',
        ),
        (_root(_group({"kind": "rule", "type": "contains"})), "heuristic config root rules[0] value is required"),
        (
            _root(_group({"kind": "rule", "type": "contains", "value": 3})),
            "heuristic config root rules[0] value must be a string",
        ),
        (
            _root(_group({"kind": "rule", "type": "min_length", "value": 1.5})),
            "heuristic config root rules[0] value must be an integer",
        ),
        (
            _root(_group({"kind": "rule", "type": "min_length", "value": -1})),
            "heuristic config root rules[0] value must be >= 0",
        ),
        (
            _root(_group(_group(_group(RULE)))),
            "heuristic config root rules[0] rules[0] rules[0] exceeds max depth 3",
        ),
        (_root(_group(*[RULE] * 25)), "heuristic config exceeds max node count 25"),
    ],
)
def test_heuristic_server_config_errors(config: dict[str, Any], message: str) -> None:
    assert ev.build("heuristic", config) == (None, [f"config: {message}"])


# -- the processor ----------------------------------------------------------------------------


class Sink:
    def __init__(self) -> None:
        self.batches: list[Batch] = []

    async def consume(self, batch: Batch) -> None:
        self.batches.append(batch)


def _processor(rules: list[dict[str, Any]], telemetry: Telemetry) -> tuple[EvaluateProcessor, Sink]:
    raw = {
        "evaluators": [
            {"id": "digits", "kind": "regex", "config": {"pattern": r"\d"}},
            {"id": "json", "kind": "json_schema", "version": "7", "score_key": "is_json"},
        ],
        "rules": rules,
    }
    cfg = load(
        {
            "receivers": {"sigil": {"http": {}, "grpc": {}}},
            "processors": {"evaluate": raw},
            "exporters": {"debug": {}},
            "service": {
                "pipelines": {"p": {"receivers": ["sigil"], "processors": ["evaluate"], "exporters": ["debug"]}}
            },
        },
        environ={},
    ).processors[ComponentId("evaluate")]
    assert isinstance(cfg.config, EvaluateConfig)
    sink = Sink()
    settings = CreateSettings(id=ComponentId("evaluate"), telemetry=telemetry, pipeline="p")
    return EvaluateProcessor(settings, cfg.config, sink), sink


async def test_processor_selects_scores_and_passes_on() -> None:
    t = Telemetry()
    proc, sink = _processor(
        [
            {"id": "visible", "evaluators": ["digits", "json"]},
            {"id": "tools", "selector": "tool_call_steps", "evaluators": ["digits"]},
            {"id": "off", "selector": "all_assistant_generations", "evaluators": ["json"], "enabled": False},
        ],
        t,
    )
    earlier = Score(id="kept")
    records = [
        _record("42", rid="g1"),
        _record("", rid="g2", tool=True),
        _record("no id", rid=""),
        Record(kind=Kind.TOOL, id="tool-span"),
    ]
    await proc.consume(Batch(records, Context(tenant="team-a"), scores=[earlier]))
    (batch,) = sink.batches
    assert batch.records == records
    assert batch.scores[0] is earlier
    got = {(s.generation_id, s.rule_id, s.evaluator_id): s for s in batch.scores[1:]}
    assert sorted(got) == [("g1", "visible", "digits"), ("g1", "visible", "json"), ("g2", "tools", "digits")]
    json_score = got[("g1", "visible", "json")]
    work = "work_" + hashlib.sha1(b"team-a|g1|visible|json|7").hexdigest()[:24]
    assert json_score.id == "sc_" + hashlib.sha1(f"{work}|is_json".encode()).hexdigest()[:24]
    assert (json_score.key, json_score.value, json_score.passed) == ("is_json", True, True)
    assert (json_score.evaluator_version, json_score.conversation_id, json_score.span_id) == ("7", "c1", "s" * 16)
    assert (json_score.source_kind, json_score.source_id) == ("online_rule", "visible")
    assert json_score.created_ns is not None
    tool_score = got[("g2", "tools", "digits")]  # the tool call's JSON has no digit
    assert (tool_score.key, tool_score.value, tool_score.metadata["matched"]) == ("regex_match", False, False)
    evaluations = t.processor_evaluations
    assert evaluations.labels("evaluate", "digits", "passed")._value.get() == 1
    assert evaluations.labels("evaluate", "digits", "failed")._value.get() == 1
    assert evaluations.labels("evaluate", "digits", "no_id")._value.get() == 1
    # A replay yields the same ids (the backend ignores the resend).
    await proc.consume(Batch([_record("42", rid="g1")], Context(tenant="team-a")))
    assert {s.id for s in sink.batches[1].scores} == {got[("g1", "visible", k)].id for k in ("digits", "json")}


async def test_processor_sampling_is_deterministic_per_conversation() -> None:
    proc, sink = _processor([{"id": "half", "evaluators": ["digits"], "sample_rate": 0.5}], Telemetry())
    records = [_record("1", rid=f"g{i}") for i in range(400)]
    for i, r in enumerate(records):
        r.conversation_id = f"conv-{i // 4}"  # four turns per conversation
    await proc.consume(Batch(records, Context(tenant="t")))
    scored = {s.generation_id for s in sink.batches[0].scores}
    by_conversation: dict[str, set[bool]] = {}
    for r in records:
        by_conversation.setdefault(r.conversation_id, set()).add(r.id in scored)
    assert all(len(v) == 1 for v in by_conversation.values())  # whole conversations in or out
    kept = sum(v == {True} for v in by_conversation.values())
    assert 35 <= kept <= 65
    for conv, (decision,) in by_conversation.items():
        assert should_sample("t", conv, "half", 0.5) is decision


def test_sampling_is_sigils() -> None:
    # Go's hash/fnv New64a vectors, and the server's bucket rule.
    assert fnv1a_64(b"") == 0xCBF29CE484222325
    assert fnv1a_64(b"a") == 0xAF63DC4C8601EC8C
    assert fnv1a_64(b"foobar") == 0x85944171F73967E8
    bucket = fnv1a_64(b"tenant|conv|rule") % 10_000
    assert should_sample("tenant", "conv", "rule", (bucket + 1) / 10_000)
    assert not should_sample("tenant", "conv", "rule", bucket / 10_000)
    assert should_sample("tenant", "conv", "rule", 1.0)
    assert not should_sample("tenant", "conv", "rule", 0.0)
    assert not should_sample("tenant", "conv", "rule", 0.00001)


# -- config messages --------------------------------------------------------------------------


def test_config_problems_are_exact() -> None:
    assert _problems(
        {
            "evaluators": [
                {"id": "judge", "kind": "llm_judge", "config": {"model": "gpt-4o-mini"}},
                {"id": "re", "kind": "regex", "config": {"pattern": "(", "flags": "i", "reject": "yes"}},
                {"id": "re2", "kind": "regex", "config": {"patterns": ["ok", "\\pL"]}},
                {"id": "none", "kind": "regex", "config": {"target": "output"}},
                {"id": "js", "kind": "json_schema", "config": {"schema": "object"}},
                {"id": "h", "kind": "heuristic", "config": {"version": "v2", "rules": {"and": [{"shorter_than": 3}]}}},
                {"id": "h2", "kind": "heuristic", "config": {"version": "v2", "rules": {"not_empty": "output"}}},
                {"id": "h3", "kind": "heuristic", "config": {"version": "v2"}},
                {"id": "", "kind": "semantic"},
            ],
            "rules": [{"id": "r", "evaluators": [], "sample_rate": 1.5, "selector": "everything"}],
        }
    ) == [
        "processors::evaluate::evaluators::0::config: llm_judge evaluator requires provider and model",
        "processors::evaluate::evaluators::1::config::flags: unknown key "
        "(valid keys: pattern, patterns, reject, target)",
        "processors::evaluate::evaluators::1::config::reject: expected true or false",
        'processors::evaluate::evaluators::1::config::pattern: compile regex pattern "(": missing ), '
        "unterminated subpattern at position 0",
        'processors::evaluate::evaluators::2::config::patterns::1: compile regex pattern "\\\\pL": bad escape \\p '
        "at position 0",
        "processors::evaluate::evaluators::3::config::target: must be one of response, input, system_prompt",
        "processors::evaluate::evaluators::3::config: regex evaluator requires pattern or patterns config",
        "processors::evaluate::evaluators::4::config::schema: expected a mapping (a JSON Schema object)",
        "processors::evaluate::evaluators::5::config::rules::and::0: unknown rule 'shorter_than' (expected one of "
        "and, or, not, not_empty, contains, not_contains, min_length, max_length)",
        "processors::evaluate::evaluators::6::config::rules::not_empty::field: must be one of response, "
        "assistant_response, input, system_prompt",
        "processors::evaluate::evaluators::7::config: heuristic config needs exactly one of root (Sigil's rule "
        "tree) or rules",
        "processors::evaluate::evaluators::8::kind: must be one of regex, json_schema, heuristic, llm_judge",
        "processors::evaluate::rules::0::selector: must be one of user_visible_turn, all_assistant_generations, "
        "tool_call_steps, errored_generations",
    ]


def test_config_references_and_duplicates() -> None:
    evaluator = {"id": "e1", "kind": "regex", "config": {"pattern": "x"}}
    assert _problems(
        {"evaluators": [evaluator, evaluator], "rules": [{"id": "r", "evaluators": ["e1", "e2"]}] * 2}
    ) == [
        "processors::evaluate::evaluators::1::id: evaluator 'e1' is defined twice",
        "processors::evaluate::rules::0::evaluators::1: evaluator 'e2' is not defined under evaluators",
        "processors::evaluate::rules::1::id: rule 'r' is defined twice",
        "processors::evaluate::rules::1::evaluators::1: evaluator 'e2' is not defined under evaluators",
    ]
    assert _problems({"evaluators": [evaluator]}) == [
        "processors::evaluate::rules: at least one rule is required (or api_store, to manage rules through the API)"
    ]
    assert _problems({"evaluators": [evaluator], "rules": [{"id": " ", "evaluators": [], "sample_rate": -0.1}]}) == [
        "processors::evaluate::rules::0::id: must not be empty",
        "processors::evaluate::rules::0::evaluators: at least one evaluator id is required",
        "processors::evaluate::rules::0::sample_rate: must be between 0 and 1",
    ]
