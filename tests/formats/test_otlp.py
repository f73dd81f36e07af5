"""OTLP traces <-> records: every attribute of the spans we emit, what we read back, and OTLP/JSON."""

from __future__ import annotations

import base64
import dataclasses
import json
import math
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from gateway.formats._otlp_values import attributes_to_dict, set_any
from gateway.formats.otlp import (
    OtlpDecodeError,
    decode_otlp_json,
    decode_otlp_protobuf,
    encode_otlp_json,
    records_to_traces,
    split_traces,
    traces_to_records,
)
from gateway.formats.semconv import ATTRIBUTE_ALIASES, DEFAULT
from gateway.model import (
    Customer,
    Kind,
    Message,
    Part,
    PartKind,
    Record,
    Role,
    Status as RecordStatus,
    ToolDefinition,
    Usage,
)
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


def emit(*records: Record, include_content: bool = True, **resource: str) -> ExportTraceServiceRequest:
    return records_to_traces(list(records), resource_attributes=resource, include_content=include_content)


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
    request = emit(chat_record(), **{"deployment.region": "eu"})
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
            "parts": [
                {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}
            ],
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
    (back,), _ = traces_to_records(
        emit(Record(kind=Kind.LLM, name="summarize-doc", operation="embed", model="m"))
    )
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
    with_content = attrs(only_span(emit(rich, include_content=True)))
    without = attrs(only_span(emit(rich, include_content=False)))
    assert CONTENT_ATTRS - {"gen_ai.tool.call.arguments", "gen_ai.tool.call.result"} <= set(with_content)
    assert "gen_ai.prompt" in with_content
    assert not (CONTENT_ATTRS | {"gen_ai.prompt"}) & set(without)
    assert without == {k: v for k, v in with_content.items() if k not in CONTENT_ATTRS | {"gen_ai.prompt"}}
    tool = attrs(only_span(emit(tool_record(), include_content=False)))
    assert "gen_ai.tool.call.arguments" not in tool and "gen_ai.tool.call.result" not in tool


def test_input_tokens_not_summed_when_already_inclusive() -> None:
    usage = Usage(
        input_tokens=100, cache_read_input_tokens=30, cache_write_input_tokens=10, input_includes_cache=True
    )
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
    request = records_to_traces(
        [chat_record()], resource_attributes={}, include_content=False, semconv=renamed
    )
    values = attrs(only_span(request))
    assert values["gen_ai.usage.cache_write.input_tokens"] == 10
    assert "gen_ai.usage.cache_creation.input_tokens" not in values


# --- ids ----------------------------------------------------------------------------------------


def test_valid_ids_are_kept_and_invalid_ones_derived_deterministically() -> None:
    parent = Record(kind=Kind.AGENT, id="evt-1", trace_id="trace-abc", span_id="span-001")
    child = Record(
        kind=Kind.LLM, id="evt-2", trace_id="trace-abc", span_id="span-002", parent_span_id="span-001"
    )
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
    request = emit(a, b, c, d, **{"service.name": "configured", "team": "ml"})
    groups = [
        (attributes_to_dict(rs.resource.attributes), len(rs.scope_spans[0].spans))
        for rs in request.resource_spans
    ]
    assert groups == [
        ({"service.name": "app-a", "team": "ml"}, 2),  # the record's own resource wins over config
        ({"service.name": "app-b", "team": "ml"}, 1),
        ({"service.name": "configured", "team": "ml"}, 1),
    ]


# --- receiving ----------------------------------------------------------------------------------


def make_request(
    attributes: dict[str, Any],
    *,
    name: str = "chat gpt-4o",
    kind: int = Span.SPAN_KIND_CLIENT,
    resource: dict[str, Any] | None = None,
) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    for key, value in (resource or {"service.name": "my-app"}).items():
        set_any(rs.resource.attributes.add(key=key).value, value)
    ss = rs.scope_spans.add()
    ss.scope.name, ss.scope.version = "opentelemetry.instrumentation.openai_v2", "2.1b0"
    span = ss.spans.add(
        trace_id=bytes.fromhex(TRACE_HEX),
        span_id=bytes.fromhex(SPAN_HEX),
        parent_span_id=bytes.fromhex(PARENT_HEX),
        name=name,
        kind=kind,  # type: ignore[arg-type]
        start_time_unix_nano=T0,
        end_time_unix_nano=T0 + 2_000_000_000,
    )
    for key, value in attributes.items():
        set_any(span.attributes.add(key=key).value, value)
    return request


def test_receive_current_names() -> None:
    request = make_request(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.request.max_tokens": 256,
            "gen_ai.request.temperature": 0.5,
            "gen_ai.request.top_k": 40.0,
            "gen_ai.response.id": "r1",
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.usage.input_tokens": 120,
            "gen_ai.usage.output_tokens": 30,
            "gen_ai.usage.cache_read.input_tokens": 100,
            "gen_ai.conversation.id": "conv-9",
            "server.address": "api.openai.com",
            "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"hi"}]}]',
        },
        resource={"service.name": "my-app", "deployment.environment.name": "staging"},
    )
    (record,), non_genai = traces_to_records(request)
    assert non_genai == 0
    assert record.kind is Kind.LLM
    assert (record.trace_id, record.span_id, record.parent_span_id) == (TRACE_HEX, SPAN_HEX, PARENT_HEX)
    assert (record.start_ns, record.end_ns, record.name) == (T0, T0 + 2_000_000_000, "chat gpt-4o")
    assert (record.operation, record.provider, record.model, record.response_id) == (
        "chat",
        "openai",
        "gpt-4o",
        "r1",
    )
    assert (record.max_tokens, record.temperature, record.stop_reason) == (256, 0.5, "stop")
    assert record.usage == Usage(
        input_tokens=120, output_tokens=30, cache_read_input_tokens=100, input_includes_cache=True
    )
    assert record.conversation_id == "conv-9"
    assert record.environment == "staging"
    assert record.input == [Message(Role.USER, [Part(PartKind.TEXT, text="hi")])]
    assert record.status is RecordStatus.OK
    assert record.extra == {
        "otlp.attr.gen_ai.request.top_k": 40.0,
        "otlp.attr.server.address": "api.openai.com",
        "otlp.resource.service.name": "my-app",
        "otlp.scope.name": "opentelemetry.instrumentation.openai_v2",
        "otlp.scope.version": "2.1b0",
        "otlp.span.kind": Span.SPAN_KIND_CLIENT,
    }


def test_receive_deprecated_names() -> None:
    request = make_request(
        {
            "gen_ai.system": "az.ai.openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.prompt_tokens": 11,
            "gen_ai.usage.completion_tokens": 7,
            "gen_ai.openai.request.seed": 42,
            "gen_ai.openai.request.response_format": "json_object",
        },
        resource={"deployment.environment": "prod"},
    )
    (record,), _ = traces_to_records(request)
    assert record.provider == "azure.ai.openai"
    assert (record.usage.input_tokens, record.usage.output_tokens) == (11, 7)
    assert record.extra["otlp.attr.gen_ai.request.seed"] == 42
    assert record.extra["otlp.attr.gen_ai.output.type"] == "json"
    assert record.environment == "prod"
    values = attrs(only_span(emit(record)))
    assert values["gen_ai.provider.name"] == "azure.ai.openai"
    assert values["gen_ai.usage.input_tokens"] == 11 and values["gen_ai.usage.output_tokens"] == 7
    assert values["gen_ai.request.seed"] == 42
    assert not set(values) & set(ATTRIBUTE_ALIASES)


def test_current_name_wins_over_its_deprecated_duplicate() -> None:
    for order in (1, -1):
        pairs = list({"gen_ai.provider.name": "openai", "gen_ai.system": "xai"}.items())[::order]
        (record,), _ = traces_to_records(make_request(dict(pairs)))
        assert record.provider == "openai"
        assert "otlp.attr.gen_ai.system" not in record.extra


def test_receive_sigil_sdk_span() -> None:
    request = make_request(
        {
            "gen_ai.operation.name": "generateText",
            "sigil.sdk.name": "sdk-python",
            "sigil.generation.id": "gen_00ff00ff00ff00ff",
            "gen_ai.conversation.id": "conv-1",
            "sigil.conversation.title": "Trip planning",
            "user.id": "u-1",
            "gen_ai.agent.name": "planner",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4",
            "sigil.gen_ai.request.tool_choice": "auto",
            "sigil.gen_ai.request.thinking.enabled": True,
            "sigil.gen_ai.request.thinking.budget_tokens": 2048,
            "sigil.framework.run_id": "run-1",
            "sigil.generation.parent_generation_ids": ["gen_a", "gen_b"],
            "gen_ai.response.finish_reasons": ["end_turn"],
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 20,
            "gen_ai.usage.cache_read_input_tokens": 60,
            "gen_ai.usage.cache_write_input_tokens": 5,
            "gen_ai.usage.reasoning_tokens": 8,
            "error.type": "provider_call_error",
            "error.category": "rate_limit",
        },
        name="generateText claude-sonnet-4",
    )
    request.resource_spans[0].scope_spans[0].spans[0].status.code = Status.STATUS_CODE_ERROR
    request.resource_spans[0].scope_spans[0].spans[0].status.message = "429 Too Many Requests"
    (record,), _ = traces_to_records(request)
    assert record.kind is Kind.LLM
    assert (record.id, record.operation, record.conversation_title) == (
        "gen_00ff00ff00ff00ff",
        "generateText",
        "Trip planning",
    )
    assert (record.user_id, record.tool_choice, record.thinking_enabled) == ("u-1", "auto", True)
    assert record.parent_generation_ids == ["gen_a", "gen_b"]
    assert record.usage == Usage(
        input_tokens=100,
        output_tokens=20,
        cache_read_input_tokens=60,
        cache_write_input_tokens=5,
        reasoning_tokens=8,
        input_includes_cache=None,  # Sigil's own names do not say whether input includes the cache
    )
    assert (record.status, record.error_type, record.error_message) == (
        RecordStatus.ERROR,
        "provider_call_error",
        "429 Too Many Requests",
    )
    assert record.extra["otlp.attr.sigil.sdk.name"] == "sdk-python"
    assert record.extra["otlp.attr.sigil.gen_ai.request.thinking.budget_tokens"] == 2048
    assert record.extra["otlp.attr.sigil.framework.run_id"] == "run-1"
    assert record.extra["otlp.attr.error.category"] == "rate_limit"
    values = attrs(only_span(emit(record)))
    assert values["gen_ai.operation.name"] == "chat"
    assert values["gateway.operation.original"] == "generateText"
    assert values["gen_ai.usage.input_tokens"] == 165  # summed: the count was not known to be inclusive
    assert values["gen_ai.usage.cache_creation.input_tokens"] == 5
    assert values["gen_ai.usage.reasoning.output_tokens"] == 8
    assert values["sigil.generation.id"] == "gen_00ff00ff00ff00ff"


@pytest.mark.parametrize(
    ("attributes", "kind"),
    [
        ({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "t"}, Kind.TOOL),
        ({"gen_ai.operation.name": "embeddings"}, Kind.EMBEDDING),
        ({"gen_ai.operation.name": "invoke_agent"}, Kind.AGENT),
        ({"gen_ai.operation.name": "create_agent"}, Kind.AGENT),
        ({"gen_ai.operation.name": "invoke_workflow"}, Kind.WORKFLOW_STEP),
        ({"gen_ai.operation.name": "text_completion"}, Kind.LLM),
        ({"gen_ai.operation.name": "retrieval"}, Kind.OTHER),
        ({"gen_ai.tool.name": "t"}, Kind.TOOL),
        ({"gen_ai.request.model": "m"}, Kind.LLM),
        ({"gen_ai.data_source.id": "kb"}, Kind.OTHER),
    ],
)
def test_kind_from_operation(attributes: dict[str, Any], kind: Kind) -> None:
    (record,), _ = traces_to_records(make_request(attributes))
    assert record.kind is kind


def test_error_status_read_back() -> None:
    request = make_request({"gen_ai.operation.name": "chat", "error.type": "timeout"})
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.status.code, span.status.message = Status.STATUS_CODE_ERROR, "deadline exceeded"
    (record,), _ = traces_to_records(request)
    assert (record.status, record.error_type, record.error_message) == (
        RecordStatus.TIMEOUT,
        "timeout",
        "deadline exceeded",
    )


def test_content_parts_structured_and_string() -> None:
    messages: list[Any] = [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "look"},
                {"type": "blob", "mime_type": "image/png", "modality": "image", "content": "iVBORw0KGgo="},
                {"type": "file", "modality": "document", "file_id": "file-1"},
                {"type": "mystery", "x": 1},  # no record shape: dropped
            ],
        },
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "c1", "name": "search", "arguments": {"q": "x"}},
                {
                    "type": "server_tool_call",
                    "id": "s1",
                    "name": "web",
                    "server_tool_call": {"type": "web_search"},
                },
            ],
        },
        {
            "role": "tool",
            "parts": [
                {"type": "tool_call_response", "id": "c1", "response": "plain text"},
                {"type": "tool_call_response", "id": "c2", "result": {"rows": 2}},
                {"type": "server_tool_call_response", "id": "s1", "server_tool_call_response": {"hits": []}},
            ],
        },
    ]
    structured = traces_to_records(make_request({"gen_ai.input.messages": messages}))[0][0]
    as_string = traces_to_records(make_request({"gen_ai.input.messages": json.dumps(messages)}))[0][0]
    assert structured.input == as_string.input
    user, assistant, tool = structured.input
    assert [p.kind for p in user.parts] == [PartKind.TEXT, PartKind.MEDIA, PartKind.MEDIA]
    assert user.parts[1].media_url == "data:image/png;base64,iVBORw0KGgo="
    assert (user.parts[2].media_name, user.parts[2].media_kind) == ("file-1", "document")
    assert assistant.parts[0].tool_input_json == b'{"q":"x"}'
    assert assistant.parts[1].provider_type == "server_tool_call"
    assert tool.parts[0].tool_result_content == "plain text"
    assert tool.parts[1].tool_result_json == b'{"rows":2}'
    emitted = json.loads(attrs(only_span(emit(structured)))["gen_ai.input.messages"])
    expected = json.loads(json.dumps(messages))
    del expected[0]["parts"][3]
    expected[2]["parts"][1] = {"type": "tool_call_response", "id": "c2", "response": {"rows": 2}}
    assert emitted == expected


def test_unparseable_content_is_kept_raw_and_still_gated() -> None:
    (record,), _ = traces_to_records(
        make_request({"gen_ai.operation.name": "chat", "gen_ai.input.messages": "{not json"})
    )
    assert record.input == []
    assert record.extra["otlp.attr.gen_ai.input.messages"] == "{not json"
    assert attrs(only_span(emit(record)))["gen_ai.input.messages"] == "{not json"
    assert "gen_ai.input.messages" not in attrs(only_span(emit(record, include_content=False)))


def test_real_opentelemetry_sdk_spans() -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test-instrumentation")
    with tracer.start_as_current_span("HTTP GET"), tracer.start_as_current_span("chat gpt-4o") as span:
        span.set_attribute("gen_ai.system", "openai")  # a <=1.36 instrumentation
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.request.model", "gpt-4o")
        span.set_attribute("gen_ai.usage.prompt_tokens", 9)
    provider.shutdown()
    request = encode_spans(exporter.get_finished_spans())
    (record,), non_genai = traces_to_records(request)
    assert non_genai == 1
    chat = next(s for s in exporter.get_finished_spans() if s.name == "chat gpt-4o")
    assert chat.context is not None
    assert record.trace_id == format(chat.context.trace_id, "032x")
    assert record.span_id == format(chat.context.span_id, "016x")
    assert (record.provider, record.model, record.usage.input_tokens) == ("openai", "gpt-4o", 9)
    assert record.extra["otlp.scope.name"] == "test-instrumentation"


def test_split_traces_passes_other_spans_through() -> None:
    request = make_request({"gen_ai.operation.name": "chat"})
    ss = request.resource_spans[0].scope_spans[0]
    ss.spans.add(name="SELECT users", trace_id=bytes.fromhex(TRACE_HEX), span_id=b"\x01" * 8)
    records, rest = split_traces(request)
    assert len(records) == 1
    (rs,) = rest.resource_spans
    assert rs.resource == request.resource_spans[0].resource
    assert rs.scope_spans[0].scope == ss.scope
    assert [s.name for s in rs.scope_spans[0].spans] == ["SELECT users"]


# --- round trips --------------------------------------------------------------------------------


def span_view(request: ExportTraceServiceRequest) -> list[Any]:
    """Everything a round trip must keep; content JSON compared as data, NaN-safe via repr."""
    views = []
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                values = attrs(span)
                for key in ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"):
                    if isinstance(values.get(key), str):
                        values[key] = json.loads(values[key])
                views.append(
                    (
                        repr(sorted(attributes_to_dict(rs.resource.attributes).items())),
                        (ss.scope.name, ss.scope.version, ss.schema_url),
                        span.trace_id,
                        span.span_id,
                        span.parent_span_id,
                        span.trace_state,
                        span.flags,
                        span.name,
                        span.kind,
                        span.start_time_unix_nano,
                        span.end_time_unix_nano,
                        span.status.SerializeToString(),
                        repr(sorted(values.items())),
                        [e.SerializeToString() for e in span.events],
                        [link.SerializeToString() for link in span.links],
                    )
                )
    return views


def test_otlp_record_otlp_round_trip_keeps_the_span() -> None:
    request = make_request(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.request.stream": False,
            "gen_ai.request.stop_sequences": ["\n\n"],
            "gen_ai.request.choice.count": 2,
            "gen_ai.response.finish_reasons": ["stop", "length"],
            "gen_ai.response.time_to_first_chunk": 0.123,
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.output_tokens": 4,
            "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"hi"}]}]',
            "gen_ai.output.messages": [
                {"role": "assistant", "parts": [{"type": "text", "content": "a"}], "finish_reason": "stop"},
                {"role": "assistant", "parts": [{"type": "text", "content": "b"}], "finish_reason": "length"},
            ],
            "gen_ai.system_instructions": '[{"type":"text","content":"be brief"}]',
            "server.port": 443,
            "custom.bytes": b"\x00\x01",
            "custom.map": {"a": [1, 2.5, None, True]},
            "custom.empty": None,
        },
        name="chat gpt-4o (custom)",
        kind=Span.SPAN_KIND_INTERNAL,
        resource={"service.name": "my-app", "host.name": "h1", "deployment.environment.name": "prod"},
    )
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.trace_state, span.flags = "vendor=1", 0x301
    span.status.code = Status.STATUS_CODE_OK
    event = span.events.add(name="gen_ai.choice", time_unix_nano=T0 + 1)
    set_any(event.attributes.add(key="index").value, 0)
    link = span.links.add(trace_id=b"\x02" * 16, span_id=b"\x03" * 8, trace_state="x=y", flags=1)
    set_any(link.attributes.add(key="why").value, "retry")
    records, _ = traces_to_records(request)
    back = records_to_traces(records, resource_attributes={}, include_content=True)
    assert span_view(back) == span_view(request)
    # And once more: the translation is stable.
    again = records_to_traces(traces_to_records(back)[0], resource_attributes={}, include_content=True)
    assert span_view(again) == span_view(request)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=any_records)
def test_any_record_emits_and_reads_back_stably(record: Record) -> None:
    first = records_to_traces([record], resource_attributes={"team": "x"}, include_content=True)
    decoded, non_genai = traces_to_records(first)
    assert (len(decoded), non_genai) == (1, 0)
    assert decoded[0].kind is record.kind
    second = records_to_traces(decoded, resource_attributes={"team": "x"}, include_content=True)
    assert span_view(second) == span_view(first)
    # OTLP/JSON carries the same request.
    assert decode_otlp_json(encode_otlp_json(first)).SerializeToString(
        deterministic=True
    ) == first.SerializeToString(deterministic=True)


def test_customer_and_workflow_fields_round_trip() -> None:
    record = Record(
        kind=Kind.WORKFLOW_STEP,
        id="wfs_1",
        workflow_name="triage",
        workflow_run_id="run-9",
        framework="langgraph",
        input_state={"q": "hi"},
        output_state={"a": [1, 2]},
        linked_generation_ids=["gen_1"],
        parent_step_ids=["wfs_0"],
        customer=Customer(id="cus_1", name="ACME"),
        eval_scores={"helpfulness": 0.5},
        trace_metadata={"release": "v2"},
        effective_version="v7",
    )
    (back,), _ = traces_to_records(emit(record))
    for name in (
        "kind",
        "id",
        "workflow_name",
        "workflow_run_id",
        "framework",
        "input_state",
        "output_state",
        "linked_generation_ids",
        "parent_step_ids",
        "customer",
        "eval_scores",
        "trace_metadata",
        "effective_version",
    ):
        assert getattr(back, name) == getattr(record, name), name


# --- OTLP/JSON ----------------------------------------------------------------------------------

JSON_BODY = {
    "resourceSpans": [
        {
            "resource": {
                "attributes": [{"key": "service.name", "value": {"stringValue": "my-app"}}],
                "entityRefs": [{"type": "service"}],  # newer than the generated classes: ignored
            },
            "scopeSpans": [
                {
                    "scope": {"name": "my.instrumentation", "version": "1.0"},
                    "spans": [
                        {
                            "traceId": TRACE_HEX.upper(),
                            "spanId": SPAN_HEX,
                            "parentSpanId": "",
                            "name": "chat gpt-4o",
                            "kind": 3,
                            "startTimeUnixNano": str(T0),
                            "endTimeUnixNano": T0 + 5,
                            "attributes": [
                                {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "42"}},
                                {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 7}},
                                {"key": "gen_ai.request.temperature", "value": {"doubleValue": 0.5}},
                                {"key": "gen_ai.request.stream", "value": {"boolValue": True}},
                                {
                                    "key": "gen_ai.response.finish_reasons",
                                    "value": {"arrayValue": {"values": [{"stringValue": "stop"}]}},
                                },
                                {
                                    "key": "m",
                                    "value": {
                                        "kvlistValue": {
                                            "values": [{"key": "k", "value": {"bytesValue": "AAE="}}]
                                        }
                                    },
                                },
                                {"key": "string_strindex", "value": {"stringValueStrindex": 3}},
                            ],
                            "status": {"code": 2, "message": "boom"},
                            "events": [{"timeUnixNano": "5", "name": "e"}],
                            "links": [{"traceId": TRACE_HEX, "spanId": PARENT_HEX, "flags": 256}],
                            "flags": 257,
                            "someFutureField": {"x": 1},
                        }
                    ],
                    "schemaUrl": "https://opentelemetry.io/schemas/1.41.1",
                }
            ],
        }
    ],
    "unknownTopLevel": True,
}


def test_decode_json_hex_ids_int_enums_and_int64_strings() -> None:
    request = decode_otlp_json(orjson.dumps(JSON_BODY))
    span = only_span(request)
    assert span.trace_id == bytes.fromhex(TRACE_HEX)
    assert span.span_id == bytes.fromhex(SPAN_HEX)
    assert span.parent_span_id == b""
    assert span.kind == Span.SPAN_KIND_CLIENT and span.flags == 257
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (T0, T0 + 5)
    assert (span.status.code, span.status.message) == (Status.STATUS_CODE_ERROR, "boom")
    assert attrs(span) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.usage.input_tokens": 42,
        "gen_ai.usage.output_tokens": 7,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.stream": True,
        "gen_ai.response.finish_reasons": ["stop"],
        "m": {"k": b"\x00\x01"},
        "string_strindex": None,  # a value kind the classes do not know: empty
    }
    assert (span.events[0].name, span.events[0].time_unix_nano) == ("e", 5)
    assert (span.links[0].span_id, span.links[0].flags) == (bytes.fromhex(PARENT_HEX), 256)
    assert request.resource_spans[0].scope_spans[0].scope.version == "1.0"


def test_decode_json_does_not_misread_hex_ids_as_base64() -> None:
    body = orjson.dumps(
        {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": TRACE_HEX, "spanId": SPAN_HEX}]}]}]}
    )
    ours = only_span(decode_otlp_json(body))
    assert ours.trace_id == bytes.fromhex(TRACE_HEX) and len(ours.trace_id) == 16
    # The trap this decoder exists for: proto3 JSON reads the same text as base64.
    theirs = only_span(json_format.Parse(body, ExportTraceServiceRequest(), ignore_unknown_fields=True))
    assert theirs.trace_id == base64.b64decode(TRACE_HEX) and len(theirs.trace_id) == 24


def test_decode_json_is_lenient_where_the_collector_is() -> None:
    body = {
        "resource_spans": [
            {
                "scope_spans": [
                    {
                        "spans": [
                            {"trace_id": TRACE_HEX, "kind": "SPAN_KIND_SERVER", "start_time_unix_nano": 5}
                        ]
                    }
                ]
            }
        ]
    }
    span = only_span(decode_otlp_json(orjson.dumps(body)))
    assert (span.trace_id, span.kind, span.start_time_unix_nano) == (
        bytes.fromhex(TRACE_HEX),
        Span.SPAN_KIND_SERVER,
        5,
    )
    assert decode_otlp_json(b"{}") == ExportTraceServiceRequest()


def spans_body(span: dict[str, Any]) -> bytes:
    return orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "invalid JSON: "),
        (b"{not json", "invalid JSON: "),
        (b"[]", "$: expected an object, got list"),
        (orjson.dumps({"resourceSpans": {}}), "$.resourceSpans: expected an array, got dict"),
        (
            spans_body({"traceId": "abc"}),
            "resourceSpans[0].scopeSpans[0].spans[0].traceId: expected 32 hex characters, got 3 ('abc')",
        ),
        (
            spans_body({"spanId": "zzzzzzzzzzzzzzzz"}),
            "resourceSpans[0].scopeSpans[0].spans[0].spanId: not a hex id: 'zzzzzzzzzzzzzzzz'",
        ),
        (
            spans_body({"traceId": base64.b64encode(bytes(16)).decode()}),
            "resourceSpans[0].scopeSpans[0].spans[0].traceId: expected 32 hex characters, got 24 ('AAAAAAAAAAAAAAAAAAAAAA==')",
        ),
        (
            spans_body({"startTimeUnixNano": "-1"}),
            "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: -1 is out of range [0, 18446744073709551615]",
        ),
        (
            spans_body({"endTimeUnixNano": "12abc"}),
            "resourceSpans[0].scopeSpans[0].spans[0].endTimeUnixNano: expected an integer or a decimal string, got '12abc'",
        ),
        (
            spans_body({"kind": "CLIENT"}),
            "resourceSpans[0].scopeSpans[0].spans[0].kind: expected an enum integer, got 'CLIENT'",
        ),
        (
            spans_body({"attributes": [{"key": "a", "value": {"boolValue": "true"}}]}),
            "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.boolValue: expected true or false, got 'true'",
        ),
        (
            spans_body({"attributes": [{"key": "a", "value": {"intValue": 1.5}}]}),
            "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue: "
            "expected an integer or a decimal string, got 1.5",
        ),
        (
            spans_body({"attributes": [{"key": "a", "value": {"bytesValue": "!!"}}]}),
            "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.bytesValue: invalid base64",
        ),
        (spans_body({"name": 5}), "resourceSpans[0].scopeSpans[0].spans[0].name: expected a string, got 5"),
        (
            spans_body({"status": {"code": 2**40}}),
            "resourceSpans[0].scopeSpans[0].spans[0].status.code: 1099511627776 is out of range [-2147483648, 2147483647]",
        ),
    ],
)
def test_decode_json_errors_name_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(OtlpDecodeError) as info:
        decode_otlp_json(body)
    assert str(info.value).startswith(message) if message.endswith(": ") else str(info.value) == message


def test_encode_json_follows_otlp_rules() -> None:
    request = emit(chat_record(), include_content=False)
    span = only_span(request)
    span.events.add(name="e", time_unix_nano=1)
    set_any(span.attributes.add(key="nan").value, math.nan)
    set_any(span.attributes.add(key="raw").value, b"\x00\xff")
    body = orjson.loads(encode_otlp_json(request))
    encoded = body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert (
        encoded["traceId"] == TRACE_HEX
        and encoded["spanId"] == SPAN_HEX
        and encoded["parentSpanId"] == PARENT_HEX
    )
    assert encoded["kind"] == 3
    assert encoded["startTimeUnixNano"] == str(T0)
    assert "status" not in encoded  # UNSET: default values are left out
    by_key = {a["key"]: a["value"] for a in encoded["attributes"]}
    assert by_key["gen_ai.usage.input_tokens"] == {"intValue": "140"}
    assert by_key["gen_ai.request.temperature"] == {"doubleValue": 0.2}
    assert by_key["nan"] == {"doubleValue": "NaN"}
    assert by_key["raw"] == {"bytesValue": "AP8="}
    assert by_key["gen_ai.response.finish_reasons"] == {
        "arrayValue": {"values": [{"stringValue": "tool_call"}]}
    }
    assert encoded["events"] == [{"timeUnixNano": "1", "name": "e"}]
    decoded = decode_otlp_json(encode_otlp_json(request))
    assert decoded.SerializeToString(deterministic=True) == request.SerializeToString(deterministic=True)


def test_decode_protobuf() -> None:
    request = emit(chat_record())
    assert decode_otlp_protobuf(request.SerializeToString()) == request
    with pytest.raises(OtlpDecodeError, match="^invalid protobuf ExportTraceServiceRequest"):
        decode_otlp_protobuf(b"\x0a\xff\xff\xff")
