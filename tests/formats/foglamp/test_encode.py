"""Records -> Foglamp ingest bodies: every format's records, the contract's limits, splitting."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.formats.foglamp import decode_ingest, encode_batches
from gateway.formats.foglamp.content import decode_content, encode_content
from gateway.formats.report import EncodeReport
from gateway.model import (
    Kind,
    Message,
    Part,
    PartKind,
    Record,
    Role,
    Status,
    ToolDefinition,
    Usage,
)
from tests.formats import record_strategies as rs
from tests.formats.foglamp.wire import T0_MS, TESTDATA, via_wire

# --------------------------------------------------------------------------------------------
# Encoding records from any format


def rec(**fields: Any) -> Record:
    base: dict[str, Any] = {
        "trace_id": "t1",
        "span_id": "s1",
        "name": "chat",
        "start_ns": T0_MS * 1_000_000,
        "end_ns": T0_MS * 1_000_000 + 5_000_000,
    }
    base.update(fields)
    return Record(**base)


def one_span(record: Record) -> tuple[dict[str, Any], dict[str, Any], EncodeReport]:
    bodies, report = encode_batches([record])
    [body] = bodies
    decode_ingest(via_wire(body))
    [wire_trace] = body["traces"]
    return wire_trace, wire_trace["spans"][0], report


def test_sigil_style_usage_adds_cache_to_input_tokens() -> None:
    usage = Usage(input_tokens=100, output_tokens=20, cache_read_input_tokens=900, cache_write_input_tokens=50)
    _, wire, report = one_span(rec(usage=usage))
    assert wire["usage"] == {
        "inputTokens": 1050,
        "outputTokens": 20,
        "cachedInputTokens": 900,
        "cacheWriteInputTokens": 50,
    }
    assert report.adjusted["input_tokens_plus_cache"] == 1
    inclusive = Usage(input_tokens=1000, cache_read_input_tokens=900, input_includes_cache=True)
    assert one_span(rec(usage=inclusive))[1]["usage"] == {"inputTokens": 1000, "cachedInputTokens": 900}


def test_sigil_total_tokens_stay_at_least_input_plus_output() -> None:
    # Sigil's total is input + output in exclusive counts; once input carries the cache, a total
    # left as it was would be lower than Foglamp's own input + output.
    usage = Usage(input_tokens=100, output_tokens=20, total_tokens=120, cache_read_input_tokens=900)
    _, wire, report = one_span(rec(usage=usage))
    assert (wire["usage"]["inputTokens"], wire["usage"]["totalTokens"]) == (1000, 1020)
    assert report.adjusted["total_tokens_plus_cache"] == 1
    # A total that already counted the cache is kept.
    usage = Usage(input_tokens=100, output_tokens=20, total_tokens=1020, cache_read_input_tokens=900)
    assert one_span(rec(usage=usage))[1]["usage"]["totalTokens"] == 1020


def test_unknown_usage_is_omitted_not_zeroed() -> None:
    _, wire, _ = one_span(rec(usage=Usage()))
    assert "usage" not in wire
    _, wire, report = one_span(rec(usage=Usage(output_tokens=3, reasoning_tokens=-1)))
    assert wire["usage"] == {"outputTokens": 3} and report.truncated["usage.invalid_count"] == 1


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"trace_name": "tn", "agent_name": "an"}, {"traceName": "tn", "agentName": "an"}),
        ({"agent_name": "an"}, {"agentName": "an"}),
        ({"name": "root-span"}, {"traceName": "root-span"}),
        ({"name": "", "operation": "generateText"}, {"traceName": "generateText"}),
        ({"name": ""}, {"traceName": "trace"}),
    ],
)
def test_trace_label_fallback_chain(fields: dict[str, Any], expected: dict[str, str]) -> None:
    wire_trace, _, _ = one_span(rec(**fields))
    assert {k: v for k, v in wire_trace.items() if k in ("traceName", "agentName")} == expected


def test_root_span_name_labels_the_trace() -> None:
    child = rec(span_id="c", parent_span_id="r", name="child")
    root = rec(span_id="r", name="root")
    [body], report = encode_batches([child, root])
    assert body["traces"][0]["traceName"] == "root" and report.adjusted["trace_name_fallback"] == 1


def test_workflow_is_sent_whole_or_not_at_all() -> None:
    wire_trace, _, report = one_span(rec(workflow_name="wf"))
    assert "workflowName" not in wire_trace and report.truncated["trace.workflow_incomplete"] == 1
    wire_trace, _, _ = one_span(rec(workflow_name="wf", workflow_run_id="r"))
    assert (wire_trace["workflowName"], wire_trace["workflowRunId"]) == ("wf", "r")


def test_metadata_is_stringified_and_clamped() -> None:
    metadata: dict[str, Any] = {
        "n": 1,
        "b": True,
        "o": {"a": [1]},
        "none": None,
        "long": "v" * 2000,
        "k" * 200: "x",
    }
    metadata.update({f"m{i}": "v" for i in range(70)})
    _, wire, report = one_span(rec(metadata=metadata, tags={"team": "growth", "n": "tag loses"}))
    meta = wire["metadata"]
    assert len(meta) == 64
    assert (meta["n"], meta["b"], meta["o"], meta["team"]) == ("1", "true", '{"a":[1]}', "growth")
    assert meta["long"] == "v" * 1024 and meta["k" * 128] == "x" and "none" not in meta
    assert report.truncated["span.metadata.keys"] == 12  # 76 non-null entries, 64 kept
    assert report.truncated["span.metadata.null_value"] == 1
    assert report.truncated["span.metadata.value"] == report.truncated["span.metadata.key"] == 1
    assert report.adjusted["span.metadata.value_coerced"] == 3


def test_ids_are_derived_deterministically() -> None:
    orphan = rec(trace_id="", span_id="", id="gen-123")
    first, _ = encode_batches([orphan])
    again, _ = encode_batches([copy.deepcopy(orphan)])
    assert first == again
    wire_trace = first[0]["traces"][0]
    assert wire_trace["spans"][0]["spanId"] == "gen-123" and wire_trace["traceId"].startswith("gw-")
    long_id = rec(span_id="s" * 200, parent_span_id="p" * 200)
    _, wire, report = one_span(long_id)
    assert len(wire["spanId"]) <= 128 and wire["spanId"] == one_span(copy.deepcopy(long_id))[1]["spanId"]
    assert report.adjusted["span_id_hashed"] == report.adjusted["parent_span_id_hashed"] == 1
    nameless = rec(trace_id="", span_id="", id="")
    assert encode_batches([nameless])[0] == encode_batches([copy.deepcopy(nameless)])[0]


def test_kinds_statuses_and_times() -> None:
    _, wire, report = one_span(
        rec(
            kind=Kind.WORKFLOW_STEP,
            status=Status.RATE_LIMITED,
            error_type="rate_limit_exceeded",
            start_ns=T0_MS * 1_000_000 + 999_999,
            end_ns=T0_MS * 1_000_000 - 7,
        )
    )
    assert (wire["spanType"], wire["status"], wire["errorMessage"]) == (
        "other",
        "error",
        "rate_limit_exceeded",
    )
    assert wire["startTime"] == T0_MS and wire["endTime"] == T0_MS
    assert report.adjusted["status_collapsed"] == 1 and report.adjusted["end_before_start"] == 1
    _, wire, _ = one_span(rec(status=Status.TIMEOUT))
    assert (wire["status"], wire["errorMessage"]) == ("error", "timeout")
    _, wire, report = one_span(rec(start_ns=-5, end_ns=None))
    assert (wire["startTime"], wire["endTime"]) == (0, 0) and report.adjusted["time_clamped"] == 2
    bodies, report = encode_batches([rec(start_ns=None, end_ns=None)])
    assert bodies == [] and report.dropped["no_timestamps"] == 1


def test_messages_from_other_formats_are_encoded_as_ai_sdk_messages() -> None:
    record = rec(
        system_prompt="Be brief.",
        input=[Message(Role.UNSPECIFIED, [Part(PartKind.TEXT, text="hi")], name="ada")],
        output=[
            Message(
                Role.ASSISTANT,
                [
                    Part(PartKind.TOOL_CALL, tool_call_id="c1", tool_name="f", tool_input_json=b"not json"),
                    Part(PartKind.TOOL_RESULT, tool_call_id="c1", tool_name="f", tool_result_json=b"[1]"),
                ],
            )
        ],
        tools=[
            ToolDefinition(name="f", type="function", input_schema_json=b'{"type":"object"}'),
            ToolDefinition("f"),
        ],
    )
    _, wire, _ = one_span(record)
    assert orjson.loads(wire["input"]) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
    ]
    assert orjson.loads(wire["output"]) == [
        {
            "role": "assistant",
            "content": [
                {"type": "tool-call", "toolCallId": "c1", "toolName": "f", "input": "not json"},
                {
                    "type": "tool-result",
                    "toolCallId": "c1",
                    "toolName": "f",
                    "output": {"type": "json", "value": [1]},
                },
            ],
        }
    ]
    assert orjson.loads(wire["toolCatalog"]) == {"f": {"parameters": {"type": "object"}}}


def test_tool_execution_json_becomes_input_and_output() -> None:
    _, wire, _ = one_span(rec(kind=Kind.TOOL, tool_arguments_json=b'{"q":1}', tool_result_json=b'"done"'))
    assert (wire["spanType"], wire["input"], wire["output"]) == ("tool", '{"q":1}', '"done"')


def test_long_content_is_cut_with_the_sdk_marker() -> None:
    text = "😀" * 600_000  # 1.2M UTF-16 units
    _, wire, report = one_span(
        rec(input=[Message(Role.USER, [Part(PartKind.TEXT, text=text)])], extra={"foglamp.input_form": "raw"})
    )
    assert wire["input"].endswith("…[truncated]") and len(wire["input"].encode("utf-16-le")) // 2 <= 1_000_000
    assert report.truncated["span.input"] == 1


def test_invalid_extras_are_dropped_and_counted() -> None:
    extra = {"foglamp.modelCallMs": 1.5, "foglamp.chunkJitter": {"min": 1}, "foglamp.outputTps": 2.5}
    _, wire, report = one_span(rec(extra=extra))
    assert wire["outputTps"] == 2.5 and "modelCallMs" not in wire and "chunkJitter" not in wire
    assert report.truncated["span.modelCallMs"] == report.truncated["span.chunkJitter"] == 1


def test_splits_by_trace_count() -> None:
    records = [rec(trace_id=f"t{i}") for i in range(5)]
    bodies, report = encode_batches(records, max_traces=2)
    assert [len(b["traces"]) for b in bodies] == [2, 2, 1] and report.payloads == 3


def test_splits_a_trace_by_span_count() -> None:
    records = [rec(span_id=f"s{i}") for i in range(7)]
    [body], report = encode_batches(records, max_spans_per_trace=3)
    assert [len(t["spans"]) for t in body["traces"]] == [3, 3, 1]
    assert {t["traceId"] for t in body["traces"]} == {"t1"} and report.adjusted["trace_split"] == 2


def test_splits_by_body_size() -> None:
    records = [rec(trace_id=f"t{i % 3}", span_id=f"s{i}", metadata={"pad": "x" * 900}) for i in range(30)]
    bodies, report = encode_batches(records, max_body_bytes=5_000)
    assert len(bodies) > 5 and report.records_out == 30
    for body in bodies:
        assert len(orjson.dumps(body)) <= 5_000
        decode_ingest(via_wire(body))


def test_a_span_too_big_for_a_body_sheds_payload_fields_first() -> None:
    big = rec(input=[Message(Role.USER, [Part(PartKind.TEXT, text="x" * 8_000)])], extra={"foglamp.sources": "[]"})
    [body], report = encode_batches([big], max_body_bytes=4_000)
    assert "input" not in body["traces"][0]["spans"][0] and report.truncated["span.input_over_body_limit"] == 1
    bodies, report = encode_batches([rec(metadata={"pad": "x" * 1000})], max_body_bytes=500)
    assert bodies == [] and report.dropped["span_over_body_limit"] == 1


COMPACT = {"max_traces": 3, "max_spans_per_trace": 4, "max_body_bytes": 40_000}


@settings(deadline=None, max_examples=150)
@given(st.lists(rs.records, max_size=8), st.sampled_from([{}, COMPACT]))
def test_every_encoded_body_validates(records: list[Record], limits: dict[str, int]) -> None:
    bodies, report = encode_batches(records, **limits)
    decoded = 0
    for body in bodies:
        raw = orjson.dumps(body)
        assert len(raw) <= limits.get("max_body_bytes", 10 * 1024 * 1024)
        assert len(body["traces"]) <= limits.get("max_traces", 1000)
        assert all(len(t["spans"]) <= limits.get("max_spans_per_trace", 2000) for t in body["traces"])
        decoded += len(decode_ingest(orjson.loads(raw)))
    assert decoded == report.records_out == len(records) - sum(report.dropped.values())
    assert report.records_in == len(records) and report.payloads == len(bodies)


part_for_roundtrip = st.one_of(
    st.builds(Part, kind=st.sampled_from([PartKind.TEXT, PartKind.THINKING]), text=rs.short_text),
    st.builds(
        Part,
        kind=st.just(PartKind.TOOL_CALL),
        tool_call_id=rs.short_text,
        tool_name=rs.short_text,
        tool_input_json=rs.json_values.map(orjson.dumps),
    ),
    st.builds(
        Part,
        kind=st.just(PartKind.TOOL_RESULT),
        tool_call_id=rs.short_text,
        tool_name=rs.short_text,
        tool_result_content=rs.short_text,
        is_error=st.booleans(),
    ),
    st.builds(
        Part,
        kind=st.just(PartKind.TOOL_RESULT),
        tool_call_id=rs.short_text,
        tool_name=rs.short_text,
        tool_result_json=rs.json_values.map(orjson.dumps),
        is_error=st.booleans(),
    ),
    st.builds(
        Part,
        kind=st.just(PartKind.MEDIA),
        media_kind=st.just("image"),
        media_url=rs.short_text,
        media_mime_type=rs.short_text,
    ),
    st.builds(
        Part,
        kind=st.just(PartKind.MEDIA),
        media_kind=st.just("file"),
        media_url=rs.short_text,
        media_mime_type=st.text(min_size=1, max_size=5),
        media_name=rs.short_text,
    ),
)


system_messages = st.builds(
    Message,
    role=st.just(Role.SYSTEM),
    parts=st.builds(Part, kind=st.just(PartKind.TEXT), text=rs.short_text).map(lambda p: [p]),
)
other_messages = st.builds(
    Message,
    role=st.sampled_from([Role.USER, Role.ASSISTANT, Role.TOOL]),
    parts=st.lists(part_for_roundtrip, max_size=3),
)


@settings(deadline=None)
@given(st.lists(system_messages | other_messages, min_size=1, max_size=4), st.booleans())
def test_messages_survive_encode_then_decode(messages: list[Message], output: bool) -> None:
    text = encode_content(messages, None, output=output)
    assert text is not None
    assert decode_content(text, output=output) == (messages, None)


def test_long_names_are_cut_in_javascript_characters() -> None:
    wire_trace, wire, report = one_span(rec(name="😀" * 300, trace_name="n" * 300, error_message="e" * 9000))
    assert wire["name"] == "😀" * 256 and wire_trace["traceName"] == "n" * 256
    assert len(wire["errorMessage"]) == 8192
    assert report.truncated["span.name"] == report.truncated["trace.traceName"] == 1


def test_lumiqtrace_events_become_valid_foglamp_traces() -> None:
    from gateway.formats.lumiqtrace import decode_ndjson

    records = decode_ndjson((TESTDATA.parent / "lumiqtrace" / "every_field.ndjson").read_bytes())
    [body], report = encode_batches(records)
    assert len(decode_ingest(via_wire(body))) == 8
    assert [t["traceId"] for t in body["traces"]] == [
        "trace-abc",
        "trace-tools",
        "trace-agent",
        "trace-media",
        "trace-rag",
    ]
    assert body["traces"][0]["traceName"] == "chat"  # no names on that wire: the operation labels it
    assert report.adjusted["status_collapsed"] == 2  # timeout and rate_limited


def test_two_traces_with_one_trace_id_keep_their_own_customer_and_session() -> None:
    # Two Foglamp traces sent with one traceId used to merge: the second one's spans then
    # carried the first one's customer and session.
    body = {
        "version": "v1",
        "traces": [
            {"traceId": "t", "traceName": "a", "sessionId": "s-a", "customer": {"id": "c-a"},
             "spans": [{"spanId": "1", "spanType": "llm", "name": "x", "startTime": T0_MS, "endTime": T0_MS + 1}]},
            {"traceId": "t", "traceName": "b", "sessionId": "s-b", "customer": {"id": "c-b"},
             "spans": [{"spanId": "2", "spanType": "llm", "name": "y", "startTime": T0_MS, "endTime": T0_MS + 1}]},
        ],
    }  # fmt: skip
    [out], _ = encode_batches(decode_ingest(body))
    got = [
        (t["traceName"], t["sessionId"], t["customer"]["id"], [s["spanId"] for s in t["spans"]]) for t in out["traces"]
    ]
    assert got == [("a", "s-a", "c-a", ["1"]), ("b", "s-b", "c-b", ["2"])]


def test_child_spans_without_trace_fields_join_their_root() -> None:
    root = rec(span_id="r", session_id="s", trace_name="n")
    child = rec(span_id="c", parent_span_id="r")
    [out], _ = encode_batches([root, child])
    [wire_trace] = out["traces"]
    assert wire_trace["sessionId"] == "s" and [s["spanId"] for s in wire_trace["spans"]] == ["r", "c"]
