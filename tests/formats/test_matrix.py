"""Every ordered pair of {Sigil, Foglamp, LumiqTrace}, as pure translation: decode a payload in
format A, encode the records in format B, and check the result field by field against
``docs/mapping.md`` (what arrives where, what is derived, and what is lost).

Sigil -> Sigil is covered by ``tests/formats/test_sigil*.py``. The same pairs run through a live
gateway in ``tests/integration/test_matrix.py``.
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.formats import foglamp as ff
from gateway.formats import lumiqtrace as lf
from gateway.formats import sigil as sf
from gateway.formats.pricing import PriceTable
from gateway.formats.report import EncodeReport
from gateway.model import Kind, Record, Status, Usage

TESTDATA = Path(__file__).parent.parent / "testdata"
PRICES = PriceTable()
SDK_VERSION = "0.1.0"  # what encode_events is told the gateway's version is


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# One generation with every Sigil field set, Anthropic-style usage (input excludes the cache).
SIGIL_GENERATION: dict[str, Any] = {
    "id": "gen_0123456789abcdef",
    "conversation_id": "conv-1",
    "operation_name": "streamText",
    "mode": "GENERATION_MODE_STREAM",
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "span_id": "00f067aa0ba902b7",
    "model": {"provider": "anthropic", "name": "claude-sonnet-4-20250514"},
    "response_id": "msg_01",
    "response_model": "claude-sonnet-4-20250514",
    "system_prompt": "You are terse.",
    "input": [{"role": "MESSAGE_ROLE_USER", "parts": [{"text": "Weather in Paris?"}]}],
    "output": [
        {
            "role": "MESSAGE_ROLE_ASSISTANT",
            "parts": [
                {"thinking": "use the tool"},
                {"text": "Checking."},
                {"tool_call": {"id": "call_1", "name": "weather", "input_json": _b64('{"city":"Paris"}')}},
            ],
        }
    ],
    "tools": [
        {
            "name": "weather",
            "description": "Current weather",
            "type": "function",
            "input_schema_json": _b64('{"type":"object"}'),
        }
    ],
    "usage": {
        "input_tokens": "100",
        "output_tokens": "40",
        "total_tokens": "1352",
        "cache_read_input_tokens": "1000",
        "cache_write_input_tokens": "200",
        "reasoning_tokens": "12",
    },
    "stop_reason": "tool_use",
    "started_at": "2026-04-20T10:00:00Z",
    "completed_at": "2026-04-20T10:00:01.250Z",
    "tags": {"team": "growth"},
    "metadata": {"sigil.user.id": "user-42", "sigil.conversation.title": "Paris trip", "n": 1.0},
    "raw_artifacts": [
        {"kind": "ARTIFACT_KIND_REQUEST", "name": "req", "content_type": "application/json", "payload": _b64("{}")}
    ],
    "agent_name": "planner",
    "agent_version": "1.2.0",
    "max_tokens": "1024",
    "temperature": 0.2,
    "top_p": 0.9,
    "tool_choice": "auto",
    "thinking_enabled": True,
    "parent_generation_ids": ["gen_parent"],
    "effective_version": "sha256:abc",
}
SIGIL_STEP: dict[str, Any] = {
    "id": "wfs_1",
    "conversation_id": "conv-1",
    "step_name": "plan",
    "framework": "langgraph",
    "started_at": "2026-04-20T10:00:02Z",
    "completed_at": "2026-04-20T10:00:03Z",
    "input_state": {"q": "x"},
    "output_state": {"a": 1},
    "tags": {"team": "growth"},
    "linked_generation_ids": ["gen_0123456789abcdef"],
    "agent_name": "planner",
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "span_id": "1111111111111111",
}
FOGLAMP_BODY = orjson.loads((TESTDATA / "foglamp" / "rich_payload_every_field.json").read_bytes())
LUMIQ_BODY = (TESTDATA / "lumiqtrace" / "every_field.ndjson").read_bytes()


# -- decoding (format A) -------------------------------------------------------------------------


def sigil_records() -> list[Record]:
    items = sf.decode_generations_json(orjson.dumps({"generations": [SIGIL_GENERATION]}))
    items += sf.decode_workflow_steps_json(orjson.dumps({"workflow_steps": [SIGIL_STEP]}))
    assert all(isinstance(i, Record) for i in items), items
    return [i for i in items if isinstance(i, Record)]


def foglamp_records() -> list[Record]:
    return ff.decode_ingest(FOGLAMP_BODY)


def lumiq_records() -> list[Record]:
    return lf.decode_ndjson(LUMIQ_BODY)


# -- encoding (format B) ---------------------------------------------------------------------------


def to_foglamp(records: list[Record]) -> tuple[list[dict[str, Any]], EncodeReport]:
    bodies, report = ff.encode_batches(records)
    for body in bodies:
        ff.decode_ingest(orjson.loads(orjson.dumps(body)))  # Foglamp would accept it
    return bodies, report


def to_lumiq(records: list[Record]) -> tuple[list[dict[str, Any]], EncodeReport]:
    bodies, report = lf.encode_events(
        records, environment_default="production", sdk_version=SDK_VERSION, pricing=PRICES
    )
    for body in bodies:
        lf.decode_ndjson(body)  # LumiqTrace would accept it
    return [orjson.loads(line) for body in bodies for line in body.split(b"\n")], report


def to_sigil(records: list[Record]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Generations and workflow steps as the Sigil exporter selects them, and how many it drops."""
    generations = [r for r in records if r.kind is Kind.LLM]
    steps = [r for r in records if r.kind is Kind.WORKFLOW_STEP]
    gen_body = orjson.loads(sf.encode_generations_json(generations))
    step_body = orjson.loads(sf.encode_workflow_steps_json(steps))
    # Sigil would accept them: they decode and pass the server's per-item rules.
    assert all(isinstance(i, Record) for i in sf.decode_generations_json(orjson.dumps(gen_body)))
    return (
        gen_body.get("generations", []),
        step_body.get("workflow_steps", []),
        len(records) - len(generations) - len(steps),
    )


def event_id(trace_id: str, span_id: str, record_id: str) -> str:
    return str(uuid.uuid5(lf.EVENT_ID_NAMESPACE, f"{trace_id}\x1f{span_id}\x1f{record_id}"))


# -- identity round trips --------------------------------------------------------------------------


def test_foglamp_to_foglamp_keeps_every_field() -> None:
    bodies, report = to_foglamp(foglamp_records())
    assert bodies == [FOGLAMP_BODY]
    assert report.lossless


def test_lumiqtrace_to_lumiqtrace_keeps_every_field() -> None:
    bodies, report = lf.encode_events(
        lumiq_records(), environment_default="production", sdk_version=SDK_VERSION, pricing=PRICES
    )
    assert bodies == [LUMIQ_BODY.rstrip(b"\n")]  # byte for byte, unknown keys included
    assert report.lossless and report.adjusted.total() == 0  # nothing derived: ids, cost, defaults are the source's


# -- Sigil -> Foglamp, LumiqTrace --------------------------------------------------------------------


def test_sigil_to_foglamp() -> None:
    (body,), report = to_foglamp(sigil_records())
    (trace,) = body["traces"]
    # Trace level: agent_name is the label; conversation_id has no Foglamp field (sessionId is
    # another notion) and is lost, as are the title and the generation id.
    assert {k: v for k, v in trace.items() if k != "spans"} == {
        "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
        "agentName": "planner",
    }
    generation, step = trace["spans"]
    assert generation == {
        "spanId": "00f067aa0ba902b7",
        "spanType": "llm",
        "name": "streamText",  # Sigil has no span name: the operation stands in
        "startTime": 1776679200000,
        "endTime": 1776679201250,
        "status": "ok",
        "provider": "anthropic",
        "modelId": "claude-sonnet-4-20250514",
        # Foglamp's inputTokens include the cache; Sigil's (Anthropic) do not: 100 + 1000 + 200.
        "usage": {
            "inputTokens": 1300,
            "outputTokens": 40,
            "totalTokens": 1352,
            "reasoningTokens": 12,
            "cachedInputTokens": 1000,
            "cacheWriteInputTokens": 200,
        },
        # The system prompt leads the input as a system message; parts in AI SDK shape.
        "input": '[{"role":"system","content":"You are terse."},'
        '{"role":"user","content":[{"type":"text","text":"Weather in Paris?"}]}]',
        "output": '[{"role":"assistant","content":[{"type":"reasoning","text":"use the tool"},'
        '{"type":"text","text":"Checking."},'
        '{"type":"tool-call","toolCallId":"call_1","toolName":"weather","input":{"city":"Paris"}}]}]',
        "toolCatalog": '{"weather":{"description":"Current weather","parameters":{"type":"object"}}}',
        # Tags and metadata share Foglamp's one string map; numbers become strings.
        "metadata": {"team": "growth", "sigil.user.id": "user-42", "sigil.conversation.title": "Paris trip", "n": "1"},
    }
    # Lost: id, conversation_id, response_id/model, stop_reason, stream, request parameters,
    # artifacts, parent_generation_ids, effective_version, agent_version, tool type.
    # The workflow step is an `other` span; its state, framework and links are lost.
    assert step == {
        "spanId": "1111111111111111",
        "spanType": "other",
        "name": "plan",
        "startTime": 1776679202000,
        "endTime": 1776679203000,
        "status": "ok",
        "metadata": {"team": "growth"},
    }
    assert report.dropped == {} and report.adjusted["input_tokens_plus_cache"] == 1


def test_sigil_to_lumiqtrace() -> None:
    records = sigil_records()
    (event,), report = to_lumiq(records)
    expected_cost = PRICES.price_record(records[0]).usd
    assert expected_cost == pytest.approx(100 * 3e-6 + 1000 * 0.3e-6 + 200 * 3.75e-6 + 40 * 15e-6)
    assert event == {
        "event_id": event_id("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "gen_0123456789abcdef"),
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "span_id": "00f067aa0ba902b7",
        "timestamp": "2026-04-20T10:00:00.000Z",
        "provider": "anthropic",
        "model": "claude-sonnet-4-20250514",
        "operation": "chat",  # streamText is not a LumiqTrace operation: the kind's
        "latency_ms": 1250,
        "input_tokens": 1300,  # cached tokens are part of LumiqTrace's input
        "output_tokens": 40,
        "cached_tokens": 1000,  # cache writes survive only inside input_tokens
        "cost_usd": expected_cost,
        "status": "success",
        "finish_reason": "tool_use",
        "stream": True,
        "environment": "production",  # the exporter's default
        "user_id": "user-42",  # projected from metadata sigil.user.id
        "tags": {"team": "growth"},
        "sdk_version": SDK_VERSION,
    }
    # LumiqTrace has no content, no conversation, no agent: all lost. The workflow step is not a
    # model call: dropped and counted.
    assert report.dropped == {"non_llm_kind": 1}


# -- Foglamp -> Sigil, LumiqTrace --------------------------------------------------------------------


def test_foglamp_to_sigil() -> None:
    generations, steps, dropped = to_sigil(foglamp_records())
    assert steps == [] and dropped == 4  # agent, tool, embedding, other: no Sigil item for them
    step0, vision = generations
    assert set(step0) == {
        "id",
        "trace_id",
        "span_id",
        "model",
        "system_prompt",
        "input",
        "output",
        "tools",
        "usage",
        "started_at",
        "completed_at",
        "metadata",
        "agent_name",
    }
    # An id derived from trace, span and start, so a resend is the same generation; no mode or
    # operation: Sigil's server defaults them (SYNC, generateText).
    assert step0["id"].startswith("gen_") and step0["id"] == to_sigil(foglamp_records())[0][0]["id"]
    assert (step0["trace_id"], step0["span_id"]) == ("0192f1c0-1a2b-7c3d-8e4f-1a2b3c4d5e6f", "call1:step:0")
    assert step0["model"] == {"provider": "openai", "name": "gpt-4o"}
    assert step0["agent_name"] == "support-copilot"  # the trace's agentName
    assert (step0["started_at"], step0["completed_at"]) == ("2026-04-20T10:00:00.010Z", "2026-04-20T10:00:01.210Z")
    # Foglamp's inputTokens include the cache: said so with INCLUSIVE semantics, not subtracted.
    assert step0["usage"] == {
        "input_tokens": "1200",
        "output_tokens": "350",
        "total_tokens": "1550",
        "cache_read_input_tokens": "1024",
        "cache_write_input_tokens": "16",
        "reasoning_tokens": "40",
        "input_semantics": "TOKEN_INPUT_SEMANTICS_INCLUSIVE",
    }
    assert step0["system_prompt"] == "You are a support copilot. Be brief."  # the system message
    assert [m["role"] for m in step0["input"]] == ["MESSAGE_ROLE_USER", "MESSAGE_ROLE_ASSISTANT", "MESSAGE_ROLE_TOOL"]
    assert step0["input"][1]["parts"][1] == {
        "tool_call": {"id": "call_1", "name": "lookup_order", "input_json": _b64('{"id":"A-17"}')}
    }
    assert step0["tools"][0]["name"] == "lookup_order" and step0["tools"][1] == {"name": "issue_refund"}
    assert step0["metadata"] == {"step": "0"}  # span metadata only: the trace's is lost
    # Lost: parentSpanId, the span name, traceName, workflow, sessionId, customer, trace metadata,
    # ttftMs, image/web-search/request counts, and every timing/throughput/safety extra.
    assert "cost" not in orjson.dumps(step0).decode()
    assert vision["input"][0]["parts"][1] == {
        "media": {"kind": "image", "url": "https://example.com/cat.png", "mime_type": "image/png"}
    }


def test_foglamp_to_lumiqtrace() -> None:
    records = foglamp_records()
    events, report = to_lumiq(records)
    step0, embed, vision = events
    assert step0 == {
        "event_id": event_id("0192f1c0-1a2b-7c3d-8e4f-1a2b3c4d5e6f", "call1:step:0", ""),
        "trace_id": "0192f1c0-1a2b-7c3d-8e4f-1a2b3c4d5e6f",
        "span_id": "call1:step:0",
        "parent_span_id": "call1:root",
        "timestamp": "2026-04-20T10:00:00.010Z",
        "provider": "openai",
        "model": "gpt-4o",
        "operation": "chat",
        "latency_ms": 1200,
        "ttft_ms": 320.5,
        "input_tokens": 1200,  # both inclusive: passed as is
        "output_tokens": 350,
        "cached_tokens": 1024,
        "cost_usd": PRICES.price_record(records[1]).usd,
        "status": "success",
        "stream": False,  # unknown in Foglamp: false, counted
        "environment": "production",
        "session_id": "session_abc123",
        "sdk_version": SDK_VERSION,
    }
    assert (embed["operation"], embed["input_tokens"], embed["output_tokens"]) == ("embed", 12, 0)
    assert vision["trace_id"] == "trace-2" and "parent_span_id" not in vision
    # The agent root (no usage), the tool execution and the `other` span are not model calls.
    assert report.dropped == {"non_llm_kind": 3}
    assert report.adjusted["output_tokens_unknown"] == 1  # the embedding had none: 0 is required


# -- LumiqTrace -> Sigil, Foglamp --------------------------------------------------------------------


def test_lumiqtrace_to_sigil() -> None:
    generations, steps, dropped = to_sigil(lumiq_records())
    # embed, tool, agent and the custom retriever event have no Sigil generation kind.
    assert steps == [] and dropped == 4
    assert [g["id"] for g in generations] == [
        "550e8400-e29b-41d4-a716-446655440001",  # event_id is the generation id
        "7d444840-9dc0-11d1-b245-5ffdce74fad2",
        "0b8e6f3c-2a4d-4c1e-9f7a-6d5c4b3a2918",
        "1c9f7a4d-3b5e-4d2f-8a6b-7e6d5c4b3a29",
    ]
    assert generations[1] == {
        "id": "7d444840-9dc0-11d1-b245-5ffdce74fad2",
        "operation_name": "chat",
        "mode": "GENERATION_MODE_STREAM",
        "trace_id": "trace-abc",
        "span_id": "span-003",
        "model": {"provider": "anthropic", "name": "claude-sonnet-4-6"},
        "usage": {
            "input_tokens": "4096",
            "output_tokens": "300",
            "cache_read_input_tokens": "3584",
            "input_semantics": "TOKEN_INPUT_SEMANTICS_INCLUSIVE",
        },
        "stop_reason": "error",
        "started_at": "2026-04-20T10:00:02.345Z",
        "completed_at": "2026-04-20T10:00:03.865500Z",  # start + latency_ms, exactly
        "tags": {"feature": "summarizer", "team": "growth"},
        "metadata": {"sigil.user.id": "user-42"},
        "call_error": "Overloaded",
    }
    # A cancelled call has no message: Sigil needs a non-blank call_error to see the failure.
    assert generations[2]["call_error"] == "aborted"
    # Lost: parent_span_id, cost_usd, error_code, environment, sdk_version, session_id, ttft_ms,
    # tools_used, eval_scores, prompt_hash, span_kind and unknown keys.


def test_lumiqtrace_to_foglamp() -> None:
    bodies, report = to_foglamp(lumiq_records())
    traces = {t["traceId"]: t for body in bodies for t in body["traces"]}
    abc = traces["trace-abc"]
    # The label falls back to the root span's name (the operation); session from the events.
    assert {k: v for k, v in abc.items() if k != "spans"} == {
        "traceId": "trace-abc",
        "traceName": "chat",
        "sessionId": "sess-9",
    }
    assert abc["spans"][2] == {
        "spanId": "span-003",
        "parentSpanId": "span-001",
        "spanType": "llm",
        "name": "chat",
        "startTime": 1776679202345,
        "endTime": 1776679203865,  # floored to ms
        "status": "error",
        "errorMessage": "Overloaded",
        "provider": "anthropic",
        "modelId": "claude-sonnet-4-6",
        "usage": {"inputTokens": 4096, "outputTokens": 300, "cachedInputTokens": 3584},
        "ttftMs": 212.25,
        "metadata": {"feature": "summarizer", "team": "growth"},  # tags
    }
    # Statuses Foglamp lacks collapse to error, the code becoming the message.
    tool = traces["trace-tools"]["spans"][0]
    assert (tool["spanType"], tool["status"], tool["errorMessage"]) == ("tool", "error", "deadline_exceeded")
    agent = traces["trace-agent"]["spans"][0]
    assert (agent["spanType"], agent["status"], agent["errorMessage"]) == ("agent", "error", "RESOURCE_EXHAUSTED")
    assert traces["trace-media"]["spans"][0]["status"] == "aborted"  # cancelled
    assert traces["trace-rag"]["spans"][0]["spanType"] == "other"  # custom + span_kind retriever
    # Every event is a span: nothing dropped. Lost: event_id, cost_usd (Foglamp prices itself),
    # environment, sdk_version, user_id, finish_reason, stream, tools_used, eval_scores,
    # prompt_hash, span_kind, unknown keys.
    assert report.dropped == {} and report.adjusted["status_collapsed"] == 2
    assert sum(len(t["spans"]) for t in traces.values()) == 8


# -- the fate of records that are not model calls -------------------------------------------------------


def _bare(kind: Kind, **changes: Any) -> Record:
    """A span of ``kind`` naming a model (Sigil requires one) but with no token count."""
    rec = Record(
        kind=kind,
        trace_id="t",
        span_id=kind.value,
        name=kind.value,
        provider="openai",
        model="gpt-4o",
        start_ns=0,
        end_ns=1_000_000,
    )
    for key, value in changes.items():
        setattr(rec, key, value)
    return rec


@pytest.mark.parametrize(
    ("kind", "sigil", "foglamp", "lumiq"),
    [
        (Kind.LLM, "generation", "llm", "event"),
        (Kind.EMBEDDING, "dropped", "embedding", "event"),
        (Kind.TOOL, "dropped", "tool", "dropped"),
        (Kind.AGENT, "dropped", "agent", "dropped"),
        (Kind.WORKFLOW_STEP, "workflow step", "other", "dropped"),
        (Kind.OTHER, "dropped", "other", "dropped"),
    ],
)
def test_fate_of_each_kind_without_token_counts(kind: Kind, sigil: str, foglamp: str, lumiq: str) -> None:
    rec = _bare(kind)
    generations, steps, dropped = to_sigil([rec])
    assert {"generation": (1, 0, 0), "workflow step": (0, 1, 0), "dropped": (0, 0, 1)}[sigil] == (
        len(generations),
        len(steps),
        dropped,
    )
    (body,), _ = to_foglamp([rec])
    assert body["traces"][0]["spans"][0]["spanType"] == foglamp
    events, report = to_lumiq([rec])
    assert (len(events), report.dropped) == ((1, {}) if lumiq == "event" else (0, {"non_llm_kind": 1}))


@pytest.mark.parametrize("kind", [Kind.TOOL, Kind.AGENT, Kind.OTHER])
def test_a_non_llm_span_that_is_a_model_call_is_a_lumiqtrace_event(kind: Kind) -> None:
    rec = _bare(kind, model="gpt-4o", usage=Usage(input_tokens=5, output_tokens=1), status=Status.OK)
    events, report = to_lumiq([rec])
    assert [e["operation"] for e in events] == ["custom"] and report.dropped == {}
