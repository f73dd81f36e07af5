"""OpenInference spans -> records (names from openinference-semantic-conventions)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from gateway.formats.otlp import CONTENT_EXTRA_KEYS, traces_to_records
from gateway.formats.otlp.openinference import CONTENT_EXTRA
from gateway.model import Kind, PartKind, Record, Role
from gateway.model import Status as RecordStatus
from tests.formats.otlp.test_decode import make_request


def read(attributes: dict[str, Any], **kw: Any) -> Record:
    records, other = traces_to_records(make_request(attributes, **kw))
    assert other == 0
    (record,) = records
    return record


@pytest.mark.parametrize(
    ("span_kind", "kind", "operation"),
    [
        ("LLM", Kind.LLM, "chat"),
        ("EMBEDDING", Kind.EMBEDDING, "embeddings"),
        ("TOOL", Kind.TOOL, "execute_tool"),
        ("AGENT", Kind.AGENT, "invoke_agent"),
        ("CHAIN", Kind.WORKFLOW_STEP, ""),
        ("RETRIEVER", Kind.WORKFLOW_STEP, "retrieval"),
        ("UNKNOWN", Kind.OTHER, ""),
    ],
)
def test_span_kinds(span_kind: str, kind: Kind, operation: str) -> None:
    record = read({"openinference.span.kind": span_kind})
    assert (record.kind, record.operation) == (kind, operation)


def test_llm_span_with_flattened_messages_tools_and_counts() -> None:
    record = read(
        {
            "openinference.span.kind": "LLM",
            "llm.provider": "anthropic",
            "llm.system": "ignored-when-provider-present",
            "llm.model_name": "claude-sonnet-4-5",
            "llm.invocation_parameters": '{"max_tokens": 512, "temperature": 0.5, "top_p": 0.9, "stream": true}',
            "llm.token_count.prompt": 1200,
            "llm.token_count.completion": 80,
            "llm.token_count.total": 1280,
            "llm.token_count.prompt_details.cache_read": 1000,
            "llm.token_count.prompt_details.cache_write": 100,
            "llm.token_count.completion_details.reasoning": 30,
            "llm.input_messages.0.message.role": "developer",
            "llm.input_messages.0.message.content": "Be brief.",
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.contents.0.message_content.type": "text",
            "llm.input_messages.1.message.contents.0.message_content.text": "What is this?",
            "llm.input_messages.1.message.contents.1.message_content.type": "image",
            "llm.input_messages.1.message.contents.1.message_content.image.image.url": "https://x/cat.png",
            "llm.input_messages.2.message.role": "assistant",
            "llm.input_messages.2.message.tool_calls.0.tool_call.id": "toolu_1",
            "llm.input_messages.2.message.tool_calls.0.tool_call.function.name": "look",
            "llm.input_messages.2.message.tool_calls.0.tool_call.function.arguments": '{"q": 1}',
            "llm.input_messages.3.message.role": "tool",
            "llm.input_messages.3.message.tool_call_id": "toolu_1",
            "llm.input_messages.3.message.content": "a cat",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "A cat.",
            "llm.finish_reason": "end_turn",
            "llm.tools.0.tool.json_schema": orjson.dumps({"name": "look", "input_schema": {"type": "object"}}).decode(),
            "session.id": "s-1",
            "user.id": "u-1",
            "metadata": '{"team": "search"}',
            "input.value": '{"messages": []}',
            "input.mime_type": "application/json",
            "llm.prompt_template.template": "Hello {name}",
        }
    )
    assert (record.kind, record.provider, record.model) == (Kind.LLM, "anthropic", "claude-sonnet-4-5")
    assert (record.max_tokens, record.stream, record.stop_reason) == (512, True, "end_turn")
    assert record.temperature == 0.5 and record.top_p == 0.9
    u = record.usage
    assert (u.input_tokens, u.output_tokens, u.total_tokens) == (1200, 80, 1280)
    assert (u.cache_read_input_tokens, u.cache_write_input_tokens, u.reasoning_tokens) == (1000, 100, 30)
    assert u.input_includes_cache is True
    assert record.system_prompt == "Be brief."
    user, assistant, tool = record.input
    assert user.role is Role.USER and [p.kind for p in user.parts] == [PartKind.TEXT, PartKind.MEDIA]
    assert user.parts[1].media_url == "https://x/cat.png"
    (call,) = assistant.parts
    assert (call.kind, call.tool_call_id, call.tool_name, call.tool_input_json) == (
        PartKind.TOOL_CALL,
        "toolu_1",
        "look",
        b'{"q": 1}',
    )
    (result,) = tool.parts
    assert (result.kind, result.tool_call_id, result.tool_result_content) == (PartKind.TOOL_RESULT, "toolu_1", "a cat")
    assert [(m.role, m.parts[0].text) for m in record.output] == [(Role.ASSISTANT, "A cat.")]
    (tool_def,) = record.tools
    assert (tool_def.name, orjson.loads(tool_def.input_schema_json)) == ("look", {"type": "object"})
    assert (record.session_id, record.user_id, record.metadata) == ("s-1", "u-1", {"team": "search"})
    # Raw content the record has no field for is kept where the content processor strips it.
    assert record.extra["otlp.attr.input.value"] == '{"messages": []}'
    assert record.extra[CONTENT_EXTRA] == {"llm.prompt_template.template": "Hello {name}"}
    assert {"otlp.attr.input.value", CONTENT_EXTRA} <= CONTENT_EXTRA_KEYS
    assert not any(key.startswith("otlp.attr.llm.") and "messages" in key for key in record.extra)


def test_response_model_name_beside_requested_model() -> None:
    record = read(
        {
            "openinference.span.kind": "LLM",
            "llm.system": "openai",
            "llm.model_name": "gpt-4o-2024-08-06",
            "llm.invocation_parameters": '{"model": "gpt-4o"}',
        }
    )
    assert (record.provider, record.model, record.response_model) == ("openai", "gpt-4o", "gpt-4o-2024-08-06")


def test_tool_span_values_are_arguments_and_result() -> None:
    record = read(
        {
            "openinference.span.kind": "TOOL",
            "tool.name": "get_weather",
            "tool.description": "Weather",
            "input.value": '{"city": "Paris"}',
            "output.value": "18C",
        }
    )
    assert (record.kind, record.tool_name, record.tool_description) == (Kind.TOOL, "get_weather", "Weather")
    assert (record.tool_arguments_json, record.tool_result_json) == (b'{"city": "Paris"}', b"18C")


def test_text_values_become_messages_when_there_are_none() -> None:
    record = read({"openinference.span.kind": "LLM", "input.value": "hi", "output.value": "hello"})
    assert [(m.role, m.parts[0].text) for m in (*record.input, *record.output)] == [
        (Role.USER, "hi"),
        (Role.ASSISTANT, "hello"),
    ]


def test_chain_json_values_are_states() -> None:
    record = read({"openinference.span.kind": "CHAIN", "input.value": '{"q": "x"}', "output.value": "[1]"})
    assert record.input_state == {"q": "x"} and record.output_state is None
    assert record.extra["otlp.attr.output.value"] == "[1]"


def test_wrong_types_stay_in_extra() -> None:
    record = read({"openinference.span.kind": "LLM", "llm.token_count.prompt": "12", "llm.model_name": 5})
    assert record.usage.input_tokens is None and record.model == ""
    assert record.extra["otlp.attr.llm.token_count.prompt"] == "12"
    assert record.extra["otlp.attr.llm.model_name"] == 5


def test_exception_event_gives_error_type_and_rate_limit() -> None:
    request = make_request({"openinference.span.kind": "LLM"})
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.status.code = Status.STATUS_CODE_ERROR
    event = span.events.add(name="exception")
    for key, value in (("exception.type", "openai.RateLimitError"), ("exception.message", "Error code: 429")):
        event.attributes.add(key=key).value.string_value = value
    (record,), _ = traces_to_records(request)
    assert (record.status, record.error_type, record.error_message) == (
        RecordStatus.RATE_LIMITED,
        "openai.RateLimitError",
        "Error code: 429",
    )


def test_gen_ai_attributes_on_the_same_span_win() -> None:
    record = read({"openinference.span.kind": "LLM", "llm.model_name": "a", "gen_ai.request.model": "b"})
    assert record.model == "b"
