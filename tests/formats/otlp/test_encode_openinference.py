"""Records -> OpenInference attributes, and OpenInference -> gateway -> OTLP(openinference) ->
gateway giving back the same records."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.config import load
from gateway.errors import ConfigError
from gateway.formats.otlp import records_to_traces, traces_to_records
from gateway.formats.otlp.values import attributes_to_dict
from gateway.model import Kind, Record
from tests.formats.otlp.test_decode import make_request
from tests.formats.otlp.test_decode_openinference import read
from tests.formats.otlp.test_encode import only_span

OI_SPAN = {
    "openinference.span.kind": "LLM",
    "llm.provider": "openai",
    "llm.model_name": "gpt-4o-2024-08-06",
    "llm.invocation_parameters": '{"model": "gpt-4o", "max_tokens": 200, "temperature": 0.2}',
    "llm.token_count.prompt": 1000,
    "llm.token_count.completion": 50,
    "llm.token_count.total": 1050,
    "llm.token_count.prompt_details.cache_read": 900,
    "llm.token_count.completion_details.reasoning": 20,
    "llm.input_messages.0.message.role": "system",
    "llm.input_messages.0.message.content": "Be brief.",
    "llm.input_messages.1.message.role": "user",
    "llm.input_messages.1.message.content": "Weather in Paris?",
    "llm.input_messages.2.message.role": "tool",
    "llm.input_messages.2.message.tool_call_id": "call_0",
    "llm.input_messages.2.message.content": "cloudy",
    "llm.output_messages.0.message.role": "assistant",
    "llm.output_messages.0.message.tool_calls.0.tool_call.id": "call_1",
    "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "get_weather",
    "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"city":"Paris"}',
    "llm.tools.0.tool.json_schema": '{"type": "function", "function": {"name": "get_weather", "parameters": {}}}',
    "llm.finish_reason": "tool_calls",
    "session.id": "s-1",
    "user.id": "u-1",
}

# Fields the OpenInference attributes carry (ids, times and the span's own details travel in the span).
FIELDS = (
    "kind",
    "provider",
    "model",
    "response_model",
    "usage",
    "max_tokens",
    "temperature",
    "system_prompt",
    "input",
    "output",
    "tools",
    "session_id",
    "user_id",
)


def relay(record: Record, conventions: tuple[str, ...]) -> tuple[dict[str, object], Record]:
    request = records_to_traces([record], resource_attributes={}, include_content=True, conventions=conventions)
    (back,), other = traces_to_records(request)
    assert other == 0
    return attributes_to_dict(only_span(request).attributes), back


@pytest.mark.parametrize("conventions", [("openinference",), ("gen_ai", "openinference"), ("gen_ai",)])
def test_openinference_round_trip(conventions: tuple[str, ...]) -> None:
    original = read(OI_SPAN)
    written, back = relay(original, conventions)
    for name in FIELDS:
        assert getattr(back, name) == getattr(original, name), name
    # GenAI semconv spells the reason its own way (tool_calls -> tool_call); OpenInference keeps it.
    assert back.stop_reason == ("tool_call" if "gen_ai" in conventions else "tool_calls")
    has_oi = "openinference.span.kind" in written
    has_gen_ai = any(key.startswith("gen_ai.") for key in written)
    assert (has_oi, has_gen_ai) == ("openinference" in conventions, "gen_ai" in conventions)
    if conventions == ("openinference",):
        assert written["llm.token_count.prompt"] == 1000  # OpenAI's count already holds the cache
        assert written["llm.provider"] == "openai" and written["llm.finish_reason"] == "tool_calls"


def test_gen_ai_record_to_openinference_tool_span() -> None:
    record = Record(
        kind=Kind.TOOL,
        tool_name="get_weather",
        tool_call_id="call_1",
        tool_arguments_json=b'{"city":"Paris"}',
        tool_result_json=b'"18C"',
        start_ns=1,
        end_ns=2,
    )
    written, back = relay(record, ("openinference",))
    assert written["openinference.span.kind"] == "TOOL" and written["input.value"] == '{"city":"Paris"}'
    assert (back.kind, back.tool_name, back.tool_call_id, back.tool_arguments_json, back.tool_result_json) == (
        Kind.TOOL,
        "get_weather",
        "call_1",
        b'{"city":"Paris"}',
        b'"18C"',
    )


def test_content_left_out_when_not_asked() -> None:
    record = read(OI_SPAN)
    request = records_to_traces(
        [dataclasses.replace(record)], resource_attributes={}, include_content=False, conventions=("openinference",)
    )
    assert not any(
        "messages" in key or key.startswith("llm.tools") for key in attributes_to_dict(only_span(request).attributes)
    )


def test_passthrough_spans_are_untouched() -> None:
    (record,), _ = traces_to_records(make_request({"db.system": "postgresql"}), passthrough=True)
    request = records_to_traces([record], resource_attributes={}, include_content=True, conventions=("openinference",))
    assert "openinference.span.kind" not in attributes_to_dict(only_span(request).attributes)


def test_config_needs_a_convention() -> None:
    with pytest.raises(ConfigError) as info:
        load(
            {
                "receivers": {"otlp": {"http": {}}},
                "exporters": {"otlp": {"endpoint": "http://127.0.0.1:4317", "conventions": []}},
                "service": {"pipelines": {"p": {"receivers": ["otlp"], "exporters": ["otlp"]}}},
            }
        )
    assert info.value.problems == ["exporters::otlp::conventions: name at least one of gen_ai, openinference"]
