"""OTLP spans -> records: current, deprecated and Sigil names, content, kinds, and round trips."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from gateway.formats.otlp import (
    decode_traces_json,
    encode_traces_json,
    records_to_traces,
    traces_to_records,
)
from gateway.formats.otlp.aliases import ATTRIBUTE_ALIASES
from gateway.formats.otlp.values import attributes_to_dict, set_any
from gateway.model import (
    Customer,
    Kind,
    Message,
    Part,
    PartKind,
    Record,
    Role,
    Usage,
)
from gateway.model import Status as RecordStatus
from tests.formats.otlp.test_encode import PARENT_HEX, SPAN_HEX, T0, TRACE_HEX, attrs, emit, only_span
from tests.formats.record_strategies import records as any_records

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
        kind=kind,
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
            "gen_ai.request.stream": True,  # only set when streaming (1.41.1)
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
        name="chat gpt-4o",  # the conventions' name (another is renamed: see the next test)
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


def test_relayed_genai_span_gets_the_conventions_name_and_keeps_its_own() -> None:
    request = make_request({"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}, name="openai.chat")
    back = only_span(records_to_traces(traces_to_records(request)[0], resource_attributes={}, include_content=True))
    assert back.name == "chat gpt-4o"
    assert attributes_to_dict(back.attributes)["gateway.record.name"] == "openai.chat"
    (record,), _ = traces_to_records(
        records_to_traces(traces_to_records(request)[0], resource_attributes={}, include_content=True)
    )
    assert record.name == "openai.chat"  # a second gateway still knows it


@settings(max_examples=60, deadline=None)
@given(record=any_records)
def test_any_record_emits_and_reads_back_stably(record: Record) -> None:
    first = records_to_traces([record], resource_attributes={"team": "x"}, include_content=True)
    decoded, non_genai = traces_to_records(first)
    assert (len(decoded), non_genai) == (1, 0)
    assert decoded[0].kind is record.kind
    second = records_to_traces(decoded, resource_attributes={"team": "x"}, include_content=True)
    assert span_view(second) == span_view(first)
    # OTLP/JSON carries the same request (NaN payloads aside: JSON has one NaN).
    assert span_view(decode_traces_json(encode_traces_json(first))) == span_view(first)


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
