"""Older content shapes: OpenLLMetry's indexed prompt/completion/function attributes and the
pre-1.28 content events, and the smaller partial shapes read beside them."""

from __future__ import annotations

from typing import Any

import orjson
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from gateway.formats.otlp import traces_to_records
from gateway.formats.otlp.values import set_any
from gateway.model import PartKind, Record, Role
from gateway.model import Status as RecordStatus
from tests.formats.otlp.test_decode import make_request


def read(attributes: dict[str, Any]) -> Record:
    (record,), _ = traces_to_records(make_request(attributes))
    return record


def test_openllmetry_indexed_attributes() -> None:
    record = read(
        {
            "gen_ai.system": "OpenAI",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "Be brief.",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": '[{"type": "text", "text": "Weather?"}]',
            "gen_ai.prompt.2.role": "assistant",
            "gen_ai.prompt.2.tool_calls.0.id": "call_1",
            "gen_ai.prompt.2.tool_calls.0.name": "get_weather",
            "gen_ai.prompt.2.tool_calls.0.arguments": '{"city": "Paris"}',
            "gen_ai.prompt.3.role": "tool",
            "gen_ai.prompt.3.tool_call_id": "call_1",
            "gen_ai.prompt.3.content": "18C",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "It is 18C.",
            "gen_ai.completion.0.finish_reason": "stop",
            "llm.request.functions.0.name": "get_weather",
            "llm.request.functions.0.description": "Weather",
            "llm.request.functions.0.parameters": '{"type": "object"}',
            "gen_ai.prompt.name": "weather-prompt",  # a current attribute with the same prefix
            "gen_ai.is_streaming": True,
            "gen_ai.usage.total_tokens": 99,
            "gen_ai.user": "u-1",
        }
    )
    assert (record.provider, record.system_prompt, record.stop_reason) == ("openai", "Be brief.", "stop")
    user, assistant, tool = record.input
    assert (user.role, user.parts[0].text) == (Role.USER, "Weather?")
    (call,) = assistant.parts
    assert (call.kind, call.tool_call_id, call.tool_name, call.tool_input_json) == (
        PartKind.TOOL_CALL,
        "call_1",
        "get_weather",
        b'{"city": "Paris"}',
    )
    assert (tool.parts[0].kind, tool.parts[0].tool_result_content) == (PartKind.TOOL_RESULT, "18C")
    assert record.output[0].parts[0].text == "It is 18C."
    (fn,) = record.tools
    assert (fn.name, fn.description, orjson.loads(fn.input_schema_json)) == (
        "get_weather",
        "Weather",
        {"type": "object"},
    )
    assert record.extra["otlp.attr.gen_ai.prompt.name"] == "weather-prompt"
    assert (record.stream, record.usage.total_tokens, record.user_id) == (True, 99, "u-1")


def test_current_content_wins_over_indexed() -> None:
    record = read(
        {
            "gen_ai.request.model": "m",
            "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"new"}]}]',
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "old",
        }
    )
    assert [p.text for m in record.input for p in m.parts] == ["new"]


def test_content_events_before_1_28() -> None:
    request = make_request({"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o"})
    span = request.resource_spans[0].scope_spans[0].spans[0]
    for name, attribute, value in (
        (
            "gen_ai.content.prompt",
            "gen_ai.prompt",
            '[{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}]',
        ),
        ("gen_ai.content.completion", "gen_ai.completion", '[{"role": "assistant", "content": "hello"}]'),
    ):
        set_any(span.events.add(name=name).attributes.add(key=attribute).value, value)
    (record,), _ = traces_to_records(request)
    assert record.system_prompt == "S"
    assert [(m.role, m.parts[0].text) for m in (*record.input, *record.output)] == [
        (Role.USER, "hi"),
        (Role.ASSISTANT, "hello"),
    ]


def test_small_shapes() -> None:
    record = read(
        {
            "gen_ai.request.model": "m",
            "gen_ai.response.finish_reasons": '["length"]',  # logfire: a JSON string
            "operation.cost": 0.25,
        }
    )
    assert (record.stop_reason, record.cost_usd) == ("length", 0.25)
    in_messages = read(
        {
            "gen_ai.request.model": "m",
            "gen_ai.output.messages": '[{"role":"assistant","parts":[],"finish_reason":"tool_call"}]',
        }
    )
    assert in_messages.stop_reason == "tool_call"
    request = make_request({"gen_ai.request.model": "m", "error.type": "rate_limit_error"})
    request.resource_spans[0].scope_spans[0].spans[0].status.code = Status.STATUS_CODE_ERROR
    (limited,), _ = traces_to_records(request)
    assert limited.status is RecordStatus.RATE_LIMITED


def test_anthropic_sdk_stop_reason_when_no_finish_reasons() -> None:
    alone = read({"gen_ai.request.model": "claude", "anthropic.message.stop_reason": "tool_use"})
    assert alone.stop_reason == "tool_use" and alone.extra["otlp.attr.anthropic.message.stop_reason"] == "tool_use"
    both = read(
        {
            "anthropic.message.stop_reason": "end_turn",
            "gen_ai.request.model": "claude",
            "gen_ai.response.finish_reasons": ["stop"],
        }
    )
    assert both.stop_reason == "stop"
