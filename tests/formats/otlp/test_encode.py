"""Records -> OTLP spans: every attribute of the spans we emit, names, kinds, ids, times, resources.

Reading spans back is in test_otlp_receive.py and OTLP/JSON in test_otlp_json.py."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from gateway.formats.otlp import (
    records_to_traces,
    records_to_traces_bytes,
    traces_to_records,
)
from gateway.formats.otlp.aliases import ATTRIBUTE_ALIASES
from gateway.formats.otlp.semconv import DEFAULT
from gateway.formats.otlp.values import attributes_to_dict
from gateway.model import (
    Kind,
    Message,
    Part,
    PartKind,
    Record,
    Role,
    ToolDefinition,
    Usage,
)
from gateway.model import Status as RecordStatus
from tests.formats.record_strategies import records as any_records

TRACE_HEX = "5b8efff798038103d269b633813fc60c"
SPAN_HEX = "eee19b7ec3c1b174"
PARENT_HEX = "eee19b7ec3c1b173"
T0 = 1_716_566_400_000_000_000
CONTENT_ATTRS = {
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "sigil.conversation.title",
}


def emit(
    *records: Record,
    include_content: bool = True,
    resource: dict[str, str] | None = None,
    emit_deprecated: bool = False,
) -> ExportTraceServiceRequest:
    return records_to_traces(
        list(records),
        resource_attributes=resource or {},
        include_content=include_content,
        emit_deprecated=emit_deprecated,
    )


def only_span(request: ExportTraceServiceRequest) -> Span:
    spans = [span for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]
    assert len(spans) == 1
    return spans[0]


def attrs(span: Span) -> dict[str, Any]:
    return attributes_to_dict(span.attributes)


def without_content(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in CONTENT_ATTRS}


def chat_record() -> Record:
    return Record(
        kind=Kind.LLM,
        id="gen_0123",
        trace_id=TRACE_HEX.upper(),  # upper-case hex is still valid hex
        span_id=SPAN_HEX,
        parent_span_id=PARENT_HEX,
        operation="generateText",
        conversation_id="conv-1",
        conversation_title="Weather chat",
        session_id="sess-1",
        user_id="user-7",
        agent_name="planner",
        agent_version="1.2",
        provider="OpenAI",
        model="gpt-4o",
        response_id="chatcmpl-1",
        response_model="gpt-4o-2024-08-06",
        stream=True,
        start_ns=T0,
        end_ns=T0 + 1_500_000_000,
        ttft_ms=250.0,
        stop_reason="tool_call",
        max_tokens=512,
        temperature=0.2,
        top_p=0.9,
        tool_choice="auto",
        thinking_enabled=True,
        system_prompt="You are terse.",
        input=[
            Message(Role.USER, [Part(PartKind.TEXT, text="Weather in Paris?")]),
            Message(
                Role.ASSISTANT,
                [
                    Part(
                        PartKind.TOOL_CALL,
                        tool_call_id="call_1",
                        tool_name="get_weather",
                        tool_input_json=b'{"city":"Paris"}',
                    )
                ],
            ),
            Message(
                Role.TOOL,
                [Part(PartKind.TOOL_RESULT, tool_call_id="call_1", tool_result_json=b'{"temp_c":21}')],
            ),
            Message(
                Role.USER,
                [
                    Part(
                        PartKind.MEDIA,
                        media_kind="image",
                        media_url="https://example.com/cat.png",
                        media_mime_type="image/png",
                    )
                ],
                name="alice",
            ),
        ],
        output=[
            Message(
                Role.ASSISTANT,
                [
                    Part(PartKind.THINKING, text="Use the tool result."),
                    Part(PartKind.TEXT, text="21 C in Paris."),
                ],
            )
        ],
        tools=[
            ToolDefinition(
                name="get_weather",
                description="Current weather",
                type="function",
                input_schema_json=b'{"type":"object","properties":{"city":{"type":"string"}}}',
            )
        ],
        usage=Usage(
            input_tokens=100,
            output_tokens=50,
            total_tokens=150,
            cache_read_input_tokens=30,
            cache_write_input_tokens=10,
            reasoning_tokens=5,
            input_includes_cache=False,
        ),
        cost_usd=0.0123,
        tags={"team": "search"},
        metadata={"run": {"attempt": 2, "ok": True}},
        environment="prod",
        extra={
            "otlp.attr.server.address": "api.openai.com",
            "otlp.attr.server.port": 443,
            "foglamp.chunkJitter": {"min": 1},  # another format's field: no place in OTLP
        },
    )


# --- emitting -----------------------------------------------------------------------------------


def test_rich_chat_span_every_attribute() -> None:
    request = emit(chat_record(), resource={"deployment.region": "eu"})
    span = only_span(request)
    assert span.name == "chat gpt-4o"
    assert span.kind == Span.SPAN_KIND_CLIENT
    assert span.trace_id == bytes.fromhex(TRACE_HEX)
    assert span.span_id == bytes.fromhex(SPAN_HEX)
    assert span.parent_span_id == bytes.fromhex(PARENT_HEX)
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (T0, T0 + 1_500_000_000)
    assert span.status.code == Status.STATUS_CODE_UNSET
    values = attrs(span)
    assert without_content(values) == {
        "gen_ai.operation.name": "chat",
        "gateway.operation.original": "generateText",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.conversation.id": "conv-1",
        "gen_ai.agent.name": "planner",
        "gen_ai.agent.version": "1.2",
        "gen_ai.request.max_tokens": 512,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.stream": True,
        "gen_ai.response.id": "chatcmpl-1",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.response.finish_reasons": ["tool_call"],
        "gen_ai.response.time_to_first_chunk": 0.25,
        "gen_ai.usage.input_tokens": 140,  # 100 + 30 cache read + 10 cache write
        "gen_ai.usage.output_tokens": 50,
        "gen_ai.usage.cache_read.input_tokens": 30,
        "gen_ai.usage.cache_creation.input_tokens": 10,
        "gen_ai.usage.reasoning.output_tokens": 5,
        "user.id": "user-7",
        "session.id": "sess-1",
        "sigil.generation.id": "gen_0123",
        "sigil.gen_ai.request.tool_choice": "auto",
        "sigil.gen_ai.request.thinking.enabled": True,
        "gateway.cost.usd": 0.0123,
        "gateway.usage.total_tokens": 150,
        "gateway.tag.team": "search",
        "gateway.metadata.run": {"attempt": 2, "ok": True},
        "server.address": "api.openai.com",
        "server.port": 443,
    }
    assert values["sigil.conversation.title"] == "Weather chat"
    assert json.loads(values["gen_ai.system_instructions"]) == [{"type": "text", "content": "You are terse."}]
    assert json.loads(values["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_1", "response": {"temp_c": 21}}],
        },
        {
            "role": "user",
            "parts": [
                {
                    "type": "uri",
                    "mime_type": "image/png",
                    "modality": "image",
                    "uri": "https://example.com/cat.png",
                }
            ],
            "name": "alice",
        },
    ]
    assert json.loads(values["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "Use the tool result."},
                {"type": "text", "content": "21 C in Paris."},
            ],
            "finish_reason": "tool_call",
        }
    ]
    assert json.loads(values["gen_ai.tool.definitions"]) == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Current weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    (rs,) = request.resource_spans
    assert attributes_to_dict(rs.resource.attributes) == {
        "service.name": "llm-telemetry-gateway",
        "deployment.region": "eu",
        "deployment.environment.name": "prod",
    }
    (ss,) = rs.scope_spans
    assert ss.scope.name == "llm-telemetry-gateway"
    assert ss.schema_url == "https://opentelemetry.io/schemas/1.41.1"


def test_embeddings_span() -> None:
    record = Record(
        kind=Kind.EMBEDDING,
        id="emb-1",
        trace_id=TRACE_HEX,
        span_id=SPAN_HEX,
        operation="embed",
        provider="openai",
        model="text-embedding-3-small",
        start_ns=T0,
        end_ns=T0 + 80_000_000,
        usage=Usage(input_tokens=12),
        extra={
            "otlp.attr.gen_ai.embeddings.dimension.count": 1536,
            "otlp.attr.gen_ai.request.encoding_formats": ["float"],
        },
    )
    span = only_span(emit(record))
    assert span.name == "embeddings text-embedding-3-small"
    assert span.kind == Span.SPAN_KIND_CLIENT
    assert attrs(span) == {
        "gen_ai.operation.name": "embeddings",
        "gateway.operation.original": "embed",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "text-embedding-3-small",
        "gen_ai.usage.input_tokens": 12,
        "gateway.record.id": "emb-1",
        "gen_ai.embeddings.dimension.count": 1536,
        "gen_ai.request.encoding_formats": ["float"],
    }


def tool_record() -> Record:
    return Record(
        kind=Kind.TOOL,
        trace_id=TRACE_HEX,
        span_id=SPAN_HEX,
        parent_span_id=PARENT_HEX,
        conversation_id="conv-1",
        agent_name="planner",
        tool_name="get_weather",
        tool_call_id="call_1",
        tool_type="function",
        tool_description="Current weather",
        tool_arguments_json=b'{"city": "Paris"}',
        tool_result_json=b'{"temp_c": 21}',
        start_ns=T0,
        end_ns=T0 + 5_000_000,
        status=RecordStatus.ERROR,
        error_type="tool_execution_error",
        error_message="upstream 500",
    )


def test_tool_span() -> None:
    span = only_span(emit(tool_record()))
    assert span.name == "execute_tool get_weather"
    assert span.kind == Span.SPAN_KIND_INTERNAL
    assert span.parent_span_id == bytes.fromhex(PARENT_HEX)
    assert (span.status.code, span.status.message) == (Status.STATUS_CODE_ERROR, "upstream 500")
    assert attrs(span) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.conversation.id": "conv-1",
        "gen_ai.agent.name": "planner",
        "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.call.id": "call_1",
        "gen_ai.tool.type": "function",
        "gen_ai.tool.description": "Current weather",
        "error.type": "tool_execution_error",
        # Content: the JSON kept byte for byte, as the Sigil SDK records it.
        "gen_ai.tool.call.arguments": '{"city": "Paris"}',
        "gen_ai.tool.call.result": '{"temp_c": 21}',
    }


@pytest.mark.parametrize(
    ("record", "name", "kind"),
    [
        (Record(kind=Kind.AGENT, agent_name="planner"), "invoke_agent planner", Span.SPAN_KIND_CLIENT),
        (Record(kind=Kind.AGENT), "invoke_agent", Span.SPAN_KIND_CLIENT),
        (
            Record(kind=Kind.WORKFLOW_STEP, workflow_name="triage"),
            "invoke_workflow triage",
            Span.SPAN_KIND_INTERNAL,
        ),
        (Record(kind=Kind.LLM), "chat", Span.SPAN_KIND_CLIENT),
        (
            Record(kind=Kind.LLM, operation="text_completion", model="m"),
            "text_completion m",
            Span.SPAN_KIND_CLIENT,
        ),
        (Record(kind=Kind.LLM, operation="image", model="dall-e-3"), "image dall-e-3", Span.SPAN_KIND_CLIENT),
        (Record(kind=Kind.EMBEDDING, operation="custom"), "embeddings", Span.SPAN_KIND_CLIENT),
    ],
)
def test_span_name_and_kind(record: Record, name: str, kind: int) -> None:
    span = only_span(emit(record))
    assert (span.name, span.kind) == (name, kind)


def test_record_name_and_kind_kept_where_the_conventions_have_no_place() -> None:
    span = only_span(emit(Record(kind=Kind.LLM, name="summarize-doc", operation="embed", model="m")))
    assert span.name == "embeddings m"
    values = attrs(span)
    assert values["gateway.record.name"] == "summarize-doc"
    assert values["gateway.record.kind"] == "llm"  # "embeddings" alone would read back as EMBEDDING
    (back,), _ = traces_to_records(emit(Record(kind=Kind.LLM, name="summarize-doc", operation="embed", model="m")))
    assert (back.name, back.kind, back.operation) == ("summarize-doc", Kind.LLM, "embed")


@pytest.mark.parametrize(
    ("status", "error_type", "expected"),
    [
        (RecordStatus.ERROR, "", "_OTHER"),
        (RecordStatus.ERROR, "provider_call_error", "provider_call_error"),
        (RecordStatus.TIMEOUT, "", "timeout"),
        (RecordStatus.RATE_LIMITED, "", "rate_limit"),
        (RecordStatus.ABORTED, "", "cancelled"),
    ],
)
def test_error_status_and_type(status: RecordStatus, error_type: str, expected: str) -> None:
    record = Record(kind=Kind.LLM, model="m", status=status, error_type=error_type, error_message="it broke")
    span = only_span(emit(record))
    assert (span.status.code, span.status.message) == (Status.STATUS_CODE_ERROR, "it broke")
    assert attrs(span)["error.type"] == expected


def test_ok_record_has_no_error_attributes() -> None:
    span = only_span(emit(Record(kind=Kind.LLM, model="m", error_type="stale", error_message="stale")))
    assert span.status.code == Status.STATUS_CODE_UNSET and span.status.message == ""
    assert "error.type" not in attrs(span)


def test_content_only_when_asked() -> None:
    rich = chat_record()
    rich.extra["otlp.attr.gen_ai.prompt"] = "old-style prompt"  # obsolete content kept in extra
    # gen_ai.prompt is deprecated (removed): emitted only when old names are asked for.
    assert "gen_ai.prompt" not in attrs(only_span(emit(rich, include_content=True)))
    with_content = attrs(only_span(emit(rich, include_content=True, emit_deprecated=True)))
    without = attrs(only_span(emit(rich, include_content=False, emit_deprecated=True)))
    assert CONTENT_ATTRS - {"gen_ai.tool.call.arguments", "gen_ai.tool.call.result"} <= set(with_content)
    assert "gen_ai.prompt" in with_content
    assert not (CONTENT_ATTRS | {"gen_ai.prompt"}) & set(without)
    assert without == {k: v for k, v in with_content.items() if k not in CONTENT_ATTRS | {"gen_ai.prompt"}}
    tool = attrs(only_span(emit(tool_record(), include_content=False)))
    assert "gen_ai.tool.call.arguments" not in tool and "gen_ai.tool.call.result" not in tool


def test_input_tokens_not_summed_when_already_inclusive() -> None:
    usage = Usage(input_tokens=100, cache_read_input_tokens=30, cache_write_input_tokens=10, input_includes_cache=True)
    values = attrs(only_span(emit(Record(kind=Kind.LLM, usage=usage))))
    assert values["gen_ai.usage.input_tokens"] == 100
    unknown = dataclasses.replace(usage, input_includes_cache=None)
    assert attrs(only_span(emit(Record(kind=Kind.LLM, usage=unknown))))["gen_ai.usage.input_tokens"] == 140


def test_no_deprecated_name_is_emitted() -> None:
    values = attrs(only_span(emit(chat_record())))
    assert not set(values) & set(ATTRIBUTE_ALIASES)


def test_names_come_from_the_semconv_table() -> None:
    renamed = dataclasses.replace(
        DEFAULT,
        attrs=dataclasses.replace(
            DEFAULT.attrs, usage_cache_creation_input_tokens="gen_ai.usage.cache_write.input_tokens"
        ),
    )
    request = records_to_traces([chat_record()], resource_attributes={}, include_content=False, semconv=renamed)
    values = attrs(only_span(request))
    assert values["gen_ai.usage.cache_write.input_tokens"] == 10
    assert "gen_ai.usage.cache_creation.input_tokens" not in values


# --- ids ----------------------------------------------------------------------------------------


def test_valid_ids_are_kept_and_invalid_ones_derived_deterministically() -> None:
    parent = Record(kind=Kind.AGENT, id="evt-1", trace_id="trace-abc", span_id="span-001")
    child = Record(kind=Kind.LLM, id="evt-2", trace_id="trace-abc", span_id="span-002", parent_span_id="span-001")
    first = emit(parent, child)
    again = emit(parent, child)
    p1, c1 = first.resource_spans[0].scope_spans[0].spans
    p2, c2 = again.resource_spans[0].scope_spans[0].spans
    assert (p1.trace_id, p1.span_id, c1.span_id) == (
        p2.trace_id,
        p2.span_id,
        c2.span_id,
    )  # a retry repeats them
    assert len(p1.trace_id) == 16 and len(p1.span_id) == 8
    assert c1.trace_id == p1.trace_id  # same source trace -> same derived trace
    assert c1.parent_span_id == p1.span_id  # the tree survives derivation
    assert c1.span_id != p1.span_id
    other = emit(Record(kind=Kind.LLM, id="evt-3", trace_id="trace-xyz", span_id="span-001"))
    assert only_span(other).span_id != p1.span_id  # span ids are scoped by their trace


def test_missing_or_zero_ids_are_derived_from_the_record_id() -> None:
    a = only_span(emit(Record(kind=Kind.LLM, id="gen_a")))
    b = only_span(emit(Record(kind=Kind.LLM, id="gen_b")))
    assert a.trace_id != b.trace_id and a.span_id != b.span_id
    assert only_span(emit(Record(kind=Kind.LLM, id="gen_a"))).span_id == a.span_id
    zero = only_span(emit(Record(kind=Kind.LLM, id="gen_a", trace_id="0" * 32, span_id="0" * 16)))
    assert any(zero.trace_id) and any(zero.span_id)
    assert zero.parent_span_id == b""


def test_times_fall_back_and_are_clamped() -> None:
    span = only_span(emit(Record(kind=Kind.LLM, end_ns=T0)))
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (T0, T0)
    span = only_span(emit(Record(kind=Kind.LLM, start_ns=-5, end_ns=10**25)))
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (2**64 - 1, 2**64 - 1)
    span = only_span(emit(Record(kind=Kind.LLM, start_ns=T0, end_ns=T0 - 1)))
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (T0, T0)
    span = only_span(emit(Record(kind=Kind.LLM)))
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (0, 0)


def test_spans_grouped_by_resource() -> None:
    a = Record(kind=Kind.LLM, id="1", extra={"otlp.resource.service.name": "app-a"})
    b = Record(kind=Kind.LLM, id="2", extra={"otlp.resource.service.name": "app-b"})
    c = Record(kind=Kind.LLM, id="3", extra={"otlp.resource.service.name": "app-a"})
    d = Record(kind=Kind.LLM, id="4")
    request = emit(a, b, c, d, resource={"service.name": "configured", "team": "ml"})
    groups = [
        (attributes_to_dict(rs.resource.attributes), len(rs.scope_spans[0].spans)) for rs in request.resource_spans
    ]
    assert groups == [
        ({"service.name": "app-a", "team": "ml"}, 2),  # the record's own resource wins over config
        ({"service.name": "app-b", "team": "ml"}, 1),
        ({"service.name": "configured", "team": "ml"}, 1),
    ]


@settings(max_examples=60, deadline=None)
@given(st.lists(any_records, min_size=1, max_size=3))
def test_the_hand_framed_request_is_what_protobuf_would_serialize(records: list[Record]) -> None:
    # The writer frames the request by hand (formats/otlp/frame.py): parsed and serialized again
    # by protobuf it must come out the same, fields in number order and defaults left out.
    once = records_to_traces_bytes(records, resource_attributes={"team": "x"}, include_content=True)
    assert ExportTraceServiceRequest.FromString(once).SerializeToString() == once
    # Records read back from spans carry otlp.* extras (kept attributes, span details).
    relayed, _ = traces_to_records(ExportTraceServiceRequest.FromString(once))
    again = records_to_traces_bytes(
        relayed,
        resource_attributes={},
        include_content=True,
        emit_deprecated=True,
        conventions=("gen_ai", "openinference"),
    )
    assert ExportTraceServiceRequest.FromString(again).SerializeToString() == again
