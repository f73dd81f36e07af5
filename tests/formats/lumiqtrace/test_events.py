"""LumiqTrace NDJSON events: validation messages, record mapping, round trips and encoding rules."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.formats import lumiqtrace as lf
from gateway.formats.lumiqtrace import (
    EVENT_ID_NAMESPACE,
    LumiqValidationError,
    decode_ndjson,
    encode_events,
    event_id,
    map_provider,
)
from gateway.formats.lumiqtrace import encode as lq_encode
from gateway.formats.pricing import PriceTable
from gateway.model import Kind, Message, Part, PartKind, Record, Role, Status, Usage
from tests.formats import record_strategies as rs

TESTDATA = Path(__file__).parent.parent.parent / "testdata" / "lumiqtrace"
T0_NS = 1_776_679_200_000_000_000  # 2026-04-20T10:00:00Z
PRICING = PriceTable()  # shared: its lookup cache is what a long-running exporter would have


def event(**changes: Any) -> dict[str, Any]:
    """The docs' example event, changed; a value of ... removes the key."""
    base: dict[str, Any] = {
        "event_id": "550e8400-e29b-41d4-a716-446655440001",
        "trace_id": "trace-abc",
        "span_id": "span-001",
        "timestamp": "2026-04-20T10:00:00.000Z",
        "provider": "openai",
        "model": "gpt-4o",
        "operation": "chat",
        "latency_ms": 843,
        "input_tokens": 512,
        "output_tokens": 128,
        "cost_usd": 0.0034,
        "status": "success",
        "stream": False,
        "environment": "production",
        "sdk_version": "1.4.2",
    }
    for key, value in changes.items():
        if value is ...:
            del base[key]
        else:
            base[key] = value
    return base


def ndjson(*events: dict[str, Any]) -> bytes:
    return b"\n".join(orjson.dumps(e) for e in events)


def error_of(body: bytes) -> str:
    with pytest.raises(LumiqValidationError) as info:
        decode_ndjson(body)
    return str(info.value)


def encode(records: list[Record], **kwargs: Any) -> tuple[list[bytes], Any]:
    return encode_events(records, environment_default="gw-env", sdk_version="0.1.0", pricing=PRICING, **kwargs)


def one_event(record: Record) -> dict[str, Any]:
    [body], _ = encode([record])
    decode_ndjson(body)  # whatever the encoder writes, the receiver accepts
    parsed: dict[str, Any] = orjson.loads(body)
    return parsed


# --------------------------------------------------------------------------------------------
# Validation

REQUIRED = [
    "event_id",
    "trace_id",
    "span_id",
    "timestamp",
    "provider",
    "model",
    "operation",
    "latency_ms",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "status",
    "stream",
    "environment",
    "sdk_version",
]


@pytest.mark.parametrize("field", REQUIRED)
def test_each_required_field_is_required(field: str) -> None:
    body = ndjson(event(), event(**{field: ...}))
    assert error_of(body) == f'line 2: missing required field "{field}"'


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"latency_ms": "843"}, 'field "latency_ms" must be a number'),
        ({"latency_ms": True}, 'field "latency_ms" must be a number'),
        ({"latency_ms": -1}, 'field "latency_ms" must be a non-negative number'),
        ({"ttft_ms": "fast"}, 'field "ttft_ms" must be a number'),
        ({"cost_usd": None}, 'field "cost_usd" must be a number'),
        ({"input_tokens": 1.5}, 'field "input_tokens" must be a non-negative integer'),
        ({"output_tokens": -2}, 'field "output_tokens" must be a non-negative integer'),
        ({"cached_tokens": "9"}, 'field "cached_tokens" must be a number'),
        ({"event_id": ""}, 'field "event_id" must be a non-empty string'),
        ({"trace_id": 7}, 'field "trace_id" must be a non-empty string'),
        ({"model": 4}, 'field "model" must be a string'),
        ({"parent_span_id": 1}, 'field "parent_span_id" must be a string'),
        ({"provider": "mistral"}, 'field "provider" must be one of openai, anthropic, google, custom'),
        (
            {"operation": "completion"},
            'field "operation" must be one of chat, embed, image, tts, tool, agent, custom',
        ),
        ({"status": "ok"}, 'field "status" must be one of success, error, timeout, rate_limited, cancelled'),
        (
            {"span_kind": "chain"},
            'field "span_kind" must be one of llm, agent, tool, planning, handoff, retriever, guardrail, general',
        ),
        ({"stream": "false"}, 'field "stream" must be a boolean'),
        ({"timestamp": "yesterday"}, 'field "timestamp" must be an ISO 8601 timestamp'),
        ({"timestamp": 1776679200000}, 'field "timestamp" must be an ISO 8601 timestamp'),
        ({"tags": {"team": 1}}, 'field "tags" must be an object of strings'),
        ({"tools_used": "search"}, 'field "tools_used" must be an array of strings'),
        ({"eval_scores": {"faithfulness": "high"}}, 'field "eval_scores" must be an object of numbers'),
    ],
)
def test_field_type_errors_name_line_and_field(changes: dict[str, Any], message: str) -> None:
    assert error_of(ndjson(event(), event(), event(**changes))) == f"line 3: {message}"


def test_first_problem_in_schema_order_wins() -> None:
    assert error_of(ndjson(event(model=..., provider="x"))) == (
        'line 1: field "provider" must be one of openai, anthropic, google, custom'
    )


def test_invalid_json_and_non_objects() -> None:
    assert error_of(ndjson(event()) + b"\n{not json") == "line 2: invalid JSON"
    assert error_of(b"[1, 2]") == "line 1: event must be a JSON object"
    with pytest.raises(LumiqValidationError) as info:
        decode_ndjson(ndjson(event(), event(model=...)))
    assert (info.value.line, info.value.field) == (2, "model")


def test_line_numbers_count_blank_lines() -> None:
    body = ndjson(event()) + b"\n\n   \n" + ndjson(event(stream=1))
    assert error_of(body) == 'line 4: field "stream" must be a boolean'


def test_at_most_100_events() -> None:
    assert len(decode_ndjson(ndjson(*[event()] * 100))) == 100
    with pytest.raises(LumiqValidationError, match=r"^Max 100 events per batch$") as info:
        decode_ndjson(ndjson(*[event()] * 101))
    assert info.value.line is None
    assert len(decode_ndjson(ndjson(*[event()] * 150), max_events=150)) == 150


def test_lenient_framing_and_nulls() -> None:
    body = b"\r\n" + ndjson(event(ttft_ms=None, tags=None)) + b"\r\n\n"
    [record] = decode_ndjson(body)
    assert record.ttft_ms is None and record.tags == {}
    assert decode_ndjson(b"") == [] and decode_ndjson(b"\n\n") == []


@pytest.mark.parametrize(
    ("timestamp", "expected_ns"),
    [
        ("2026-04-20T10:00:00.000Z", T0_NS),
        ("2026-04-20T10:00:00Z", T0_NS),
        ("2026-04-20T12:00:00.250+02:00", T0_NS + 250_000_000),
        ("2026-04-20T10:00:00.123456", T0_NS + 123_456_000),  # no offset: taken as UTC
    ],
)
def test_timestamps(timestamp: str, expected_ns: int) -> None:
    [record] = decode_ndjson(ndjson(event(timestamp=timestamp, latency_ms=1.5)))
    assert record.start_ns == expected_ns and record.end_ns == expected_ns + 1_500_000


# --------------------------------------------------------------------------------------------
# Mapping and round trips


def test_every_field_round_trips_byte_for_byte() -> None:
    body = (TESTDATA / "every_field.ndjson").read_bytes()
    bodies, report = encode(decode_ndjson(body))
    assert bodies == [body]
    assert report.lossless and report.records_out == report.records_in == 8
    assert "cost_computed" not in report.adjusted  # every cost came from the events


def test_every_field_maps_to_records() -> None:
    records = decode_ndjson((TESTDATA / "every_field.ndjson").read_bytes())
    plain, embed, rich, tool, agent, image, tts, rerank = records
    assert (plain.id, plain.trace_id, plain.span_id, plain.parent_span_id) == (
        "550e8400-e29b-41d4-a716-446655440001",
        "trace-abc",
        "span-001",
        "",
    )
    assert (plain.kind, plain.operation, plain.provider, plain.model) == (
        Kind.LLM,
        "chat",
        "openai",
        "gpt-4o",
    )
    assert (plain.start_ns, plain.end_ns, plain.stream, plain.status) == (
        T0_NS,
        T0_NS + 843_000_000,
        False,
        Status.OK,
    )
    assert plain.usage == Usage(input_tokens=512, output_tokens=128, input_includes_cache=True)
    assert (plain.cost_usd, plain.environment, plain.sdk_version) == (0.0034, "production", "1.4.2")
    assert embed.kind is Kind.EMBEDDING and embed.parent_span_id == "span-001"
    assert rich.usage.cache_read_input_tokens == 3584 and rich.ttft_ms == 212.25
    assert (rich.status, rich.error_type, rich.error_message, rich.stop_reason) == (
        Status.ERROR,
        "overloaded_error",
        "Overloaded",
        "error",
    )
    assert (rich.user_id, rich.session_id, rich.prompt_hash) == (
        "user-42",
        "sess-9",
        "sha256:9f86d081884c7d65",
    )
    assert rich.tags == {"feature": "summarizer", "team": "growth"}
    assert rich.tools_used == ["search", "calculator"] and rich.eval_scores == {
        "faithfulness": 0.94,
        "relevance": 1.0,
    }
    assert rich.extra == {
        "lumiqtrace.span_kind": "llm",
        "lumiqtrace.unknown.region": "eu-west-1",
        "lumiqtrace.unknown.x_debug": {"retries": [1, 2]},
    }
    assert (rich.end_ns or 0) - (rich.start_ns or 0) == 1_520_500_000
    assert (tool.kind, tool.status, agent.kind, agent.status) == (
        Kind.TOOL,
        Status.TIMEOUT,
        Kind.AGENT,
        Status.RATE_LIMITED,
    )
    assert (image.kind, image.status, tts.kind, rerank.kind) == (
        Kind.LLM,
        Status.ABORTED,
        Kind.LLM,
        Kind.OTHER,
    )
    assert all(not r.input and not r.output for r in records)  # LumiqTrace carries no content


def test_custom_operation_follows_span_kind() -> None:
    kinds = [
        decode_ndjson(ndjson(event(operation="custom", **extra)))[0].kind
        for extra in ({}, {"span_kind": "general"}, {"span_kind": "tool"}, {"span_kind": "guardrail"})
    ]
    assert kinds == [Kind.LLM, Kind.LLM, Kind.TOOL, Kind.OTHER]


# --------------------------------------------------------------------------------------------
# Encoding records from any format


def rec(**fields: Any) -> Record:
    base: dict[str, Any] = {
        "trace_id": "t1",
        "span_id": "s1",
        "provider": "openai",
        "model": "gpt-4o",
        "start_ns": T0_NS + 1_234_567,
        "end_ns": T0_NS + 801_234_567,
        "usage": Usage(input_tokens=1000, output_tokens=500, cache_read_input_tokens=200, input_includes_cache=True),
    }
    base.update(fields)
    return Record(**base)


def test_record_from_another_format() -> None:
    record = rec(
        id="gen-7",
        name="generateText",
        operation="generateText",
        input=[Message(Role.USER, [Part(PartKind.TEXT, text="secret prompt")])],
        stop_reason="stop",
        metadata={"k": "v"},
    )
    out = one_event(record)
    assert out == {
        "event_id": event_id(record),
        "trace_id": "t1",
        "span_id": "s1",
        "timestamp": "2026-04-20T10:00:00.001Z",
        "provider": "openai",
        "model": "gpt-4o",
        "operation": "chat",
        "latency_ms": 800,
        "input_tokens": 1000,
        "output_tokens": 500,
        "cached_tokens": 200,
        "cost_usd": 0.00725,  # 800 x $2.50 + 200 x $1.25 + 500 x $10 per million
        "status": "success",
        "finish_reason": "stop",
        "stream": False,
        "environment": "gw-env",
        "sdk_version": "0.1.0",
    }
    assert "secret prompt" not in orjson.dumps(out).decode()


def test_sigil_style_usage_folds_cache_into_input() -> None:
    usage = Usage(input_tokens=100, output_tokens=10, cache_read_input_tokens=900, cache_write_input_tokens=50)
    out = one_event(rec(usage=usage))
    assert (out["input_tokens"], out["cached_tokens"]) == (1050, 900)


def test_unknown_tokens_are_sent_as_zero_and_reported() -> None:
    bodies, report = encode([rec(kind=Kind.EMBEDDING, usage=Usage(input_tokens=64))])
    out = orjson.loads(bodies[0])
    assert (out["input_tokens"], out["output_tokens"], out["operation"]) == (64, 0, "embed")
    assert report.adjusted["output_tokens_unknown"] == 1 and "cached_tokens" not in out
    assert report.adjusted["stream_unknown"] == 1


def test_non_llm_records_are_dropped_unless_they_are_model_calls() -> None:
    records = [
        rec(kind=Kind.TOOL, model="", usage=Usage()),
        rec(kind=Kind.AGENT, usage=Usage()),  # a Foglamp agent root span: a model but no usage
        rec(kind=Kind.WORKFLOW_STEP, model=""),
        rec(kind=Kind.TOOL, span_id="tool-llm"),  # a model and tokens: a model call after all
    ]
    bodies, report = encode(records)
    [body] = bodies
    assert orjson.loads(body)["span_id"] == "tool-llm" and orjson.loads(body)["operation"] == "custom"
    assert report.dropped["non_llm_kind"] == 3 and report.records_out == 1


@pytest.mark.parametrize(
    ("provider", "expected"),
    [
        ("openai", "openai"),
        ("azure.ai.openai", "openai"),
        ("Azure", "openai"),
        ("anthropic", "anthropic"),
        ("aws.bedrock", "custom"),
        ("google", "google"),
        ("gemini", "google"),
        ("gcp.vertex_ai", "google"),
        ("gcp.gen_ai", "google"),
        ("mistral_ai", "custom"),
        ("", "custom"),
        ("custom", "custom"),
    ],
)
def test_provider_map(provider: str, expected: str) -> None:
    assert map_provider(provider) == expected


def test_custom_provider_keeps_its_name_in_a_tag() -> None:
    out = one_event(rec(provider="mistral_ai", model="mistral-large-latest", cost_usd=0.5))
    assert (out["provider"], out["tags"]) == ("custom", {"provider": "mistral_ai"})
    out = one_event(rec(provider="mistral_ai", tags={"provider": "mine"}, cost_usd=0.5))
    assert out["tags"] == {"provider": "mine"}
    assert "tags" not in one_event(rec(provider="custom", cost_usd=0.5))


def test_event_ids_are_kept_or_derived_deterministically() -> None:
    kept = "0B8E6F3C-2A4D-4C1E-9F7A-6D5C4B3A2918"
    assert one_event(rec(id=kept))["event_id"] == kept
    derived = one_event(rec(id="gen-7"))["event_id"]
    assert uuid.UUID(derived).version == 5
    assert derived == str(uuid.uuid5(EVENT_ID_NAMESPACE, "t1\x1fs1\x1fgen-7"))
    assert one_event(copy.deepcopy(rec(id="gen-7")))["event_id"] == derived  # a retry dedups
    assert one_event(rec(id="gen-7", span_id="s2"))["event_id"] != derived
    anonymous = rec(trace_id="", span_id="", id="")
    first = one_event(anonymous)
    assert first["event_id"] == one_event(copy.deepcopy(anonymous))["event_id"]
    assert first["trace_id"] == first["span_id"] == first["event_id"]


def test_costs() -> None:
    assert one_event(rec(cost_usd=1.25))["cost_usd"] == 1.25  # the record's cost wins
    bodies, report = encode([rec(model="my-finetune-v3"), rec(usage=Usage()), rec(cost_usd=float("nan"))])
    unknown, no_usage, nan = (orjson.loads(line) for line in bodies[0].split(b"\n"))
    assert (unknown["cost_usd"], unknown["tags"]) == (0, {"cost_status": "unpriced"})
    assert (no_usage["cost_usd"], no_usage["tags"]) == (0, {"cost_status": "unpriced"})
    assert nan["cost_usd"] == 0.00725 and "tags" not in nan
    assert report.adjusted["cost_unpriced"] == 2 and report.adjusted["cost_unpriced.unknown_model"] == 1
    assert report.adjusted["cost_invalid"] == report.adjusted["cost_computed"] == 1


def test_statuses_and_operations() -> None:
    statuses = [one_event(rec(status=s, cost_usd=0.1))["status"] for s in Status]
    assert statuses == ["success", "error", "cancelled", "timeout", "rate_limited"]
    assert one_event(rec(operation="embed", cost_usd=0.1))["operation"] == "embed"
    assert one_event(rec(operation="invoke_agent", kind=Kind.AGENT, cost_usd=0.1))["operation"] == "custom"


def test_times_and_defaults() -> None:
    out = one_event(rec(end_ns=None, ttft_ms=12.5, stream=True, environment="prod", sdk_version="9.9.9", cost_usd=0))
    assert (out["latency_ms"], out["ttft_ms"], out["stream"]) == (0, 12.5, True)
    assert (out["environment"], out["sdk_version"]) == ("prod", "9.9.9")
    assert one_event(rec(end_ns=T0_NS + 1_234_567 + 1_500, cost_usd=0))["latency_ms"] == 0.0015
    bodies, report = encode([rec(start_ns=None, end_ns=None), rec(start_ns=10**30)])
    assert bodies == [] and report.dropped == {"no_timestamps": 1, "timestamp_out_of_range": 1}


def test_error_message_is_cut_to_500_characters() -> None:
    bodies, report = encode([rec(status=Status.ERROR, error_message="x" * 600, error_type="boom", cost_usd=0)])
    out = orjson.loads(bodies[0])
    assert (len(out["error_message"]), out["error_code"]) == (500, "boom") and report.truncated["error_message"] == 1


def test_unknown_fields_never_override_known_ones() -> None:
    extra = {
        "lumiqtrace.unknown.model": "evil",
        "lumiqtrace.unknown.note": "kept",
        "lumiqtrace.span_kind": "chain",
    }
    out = one_event(rec(extra=extra, cost_usd=0))
    assert (out["model"], out["note"]) == ("gpt-4o", "kept") and "span_kind" not in out


def test_bodies_hold_at_most_100_events() -> None:
    records = [rec(span_id=f"s{i}", cost_usd=0.001) for i in range(250)]
    bodies, report = encode(records)
    assert [len(decode_ndjson(b)) for b in bodies] == [100, 100, 50] and report.payloads == 3
    assert all(not b.endswith(b"\n") for b in bodies)
    assert len(encode(records, max_events=10)[0]) == 25


@settings(deadline=None, max_examples=150)
@given(st.lists(rs.records, max_size=12), st.integers(min_value=1, max_value=5))
def test_every_encoded_body_is_accepted(records: list[Record], max_events: int) -> None:
    bodies, report = encode(records, max_events=max_events)
    decoded = [r for body in bodies for r in decode_ndjson(body, max_events=max_events)]
    assert len(decoded) == report.records_out == len(records) - sum(report.dropped.values())
    assert all(len(body.split(b"\n")) <= max_events for body in bodies)
    # Re-encoding what was decoded changes nothing: ids, costs and defaults are all settled.
    again, _ = encode(decoded, max_events=max_events)
    assert again == bodies


def test_foglamp_spans_become_events_for_model_calls_only() -> None:
    from gateway.formats.foglamp import decode_ingest

    payload = orjson.loads((TESTDATA.parent / "foglamp" / "rich_payload_every_field.json").read_bytes())
    bodies, report = encode(decode_ingest(payload))
    events = [orjson.loads(line) for body in bodies for line in body.split(b"\n")]
    assert [(e["operation"], e["model"]) for e in events] == [
        ("chat", "gpt-4o"),
        ("embed", "text-embedding-3-small"),
        ("chat", "claude-sonnet-4-20250514"),
    ]
    # The agent root (a model, no usage), the tool and the other span are not model calls.
    assert report.dropped["non_llm_kind"] == 3
    llm = events[0]
    assert (llm["input_tokens"], llm["cached_tokens"], llm["ttft_ms"]) == (1200, 1024, 320.5)
    assert llm["cost_usd"] > 0 and "tags" not in llm  # priced offline from the usage
    assert all(uuid.UUID(e["event_id"]).version == 5 for e in events)


@settings(deadline=None, max_examples=300)
@given(
    st.lists(
        st.one_of(st.binary(max_size=20), st.dictionaries(st.sampled_from(REQUIRED), rs.json_values).map(orjson.dumps)),
        max_size=4,
    )
)
def test_any_body_is_either_records_or_a_validation_error(lines: list[bytes]) -> None:
    body = b"\n".join(lines)
    try:
        decode_ndjson(body)
    except LumiqValidationError as exc:
        assert str(exc).startswith(("line ", "Max "))


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-62135596800 * 10**9, max_value=253402300799 * 10**9 + 999_999_999))
def test_timestamps_are_the_datetime_rendering(ns: int) -> None:
    when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ns // 1_000_000)
    assert lq_encode._iso_ms(ns) == when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


@pytest.mark.parametrize("ns", [-62135596801 * 10**9, 253402300800 * 10**9])
def test_timestamps_outside_the_calendar_overflow(ns: int) -> None:
    with pytest.raises(OverflowError):
        lq_encode._iso_ms(ns)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_derived_event_ids_are_uuid5(name: str) -> None:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return  # lone surrogates cannot be hashed either way
    assert lq_encode._uuid5(name) == str(uuid.uuid5(lf.EVENT_ID_NAMESPACE, name))


def test_trace_metadata_environment_reaches_environment() -> None:
    # A Foglamp trace's metadata.environment used to be replaced by the gateway's default.
    assert one_event(rec(trace_metadata={"environment": "staging"}))["environment"] == "staging"
    assert one_event(rec(metadata={"environment": "prod-eu"}))["environment"] == "prod-eu"
    assert one_event(rec(environment="dev", trace_metadata={"environment": "staging"}))["environment"] == "dev"
    assert one_event(rec())["environment"] == "gw-env"
