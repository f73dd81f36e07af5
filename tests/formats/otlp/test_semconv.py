"""The semantic-convention table: the 1.41.1 names as the fact sheet gives them, and the aliases."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.formats.otlp import semconv
from gateway.formats.otlp.aliases import ATTRIBUTE_ALIASES
from gateway.formats.otlp.semconv import (
    DEFAULT,
    EXTENSIONS,
    content_attribute_names,
    get_semconv,
    normalize_operation,
    normalize_provider,
    receiver_attribute_index,
)


def test_default_is_1_41_1() -> None:
    assert semconv.DEFAULT_VERSION == "1.41.1"
    assert DEFAULT is get_semconv() is get_semconv("1.41.1")
    assert DEFAULT.version == "1.41.1"
    assert DEFAULT.schema_url == "https://opentelemetry.io/schemas/1.41.1"


def test_unknown_version_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"^unknown semantic-convention version '9\.9' \(known: 1\.41\.1\)$"):
        get_semconv("9.9")


def test_attribute_names_match_the_fact_sheet() -> None:
    a = DEFAULT.attrs
    assert a.operation_name == "gen_ai.operation.name"
    assert a.provider_name == "gen_ai.provider.name"
    assert a.usage_input_tokens == "gen_ai.usage.input_tokens"
    assert a.usage_output_tokens == "gen_ai.usage.output_tokens"
    assert a.usage_cache_read_input_tokens == "gen_ai.usage.cache_read.input_tokens"
    assert a.usage_cache_creation_input_tokens == "gen_ai.usage.cache_creation.input_tokens"
    assert a.usage_reasoning_output_tokens == "gen_ai.usage.reasoning.output_tokens"
    assert a.response_finish_reasons == "gen_ai.response.finish_reasons"
    assert a.response_time_to_first_chunk == "gen_ai.response.time_to_first_chunk"
    assert a.request_choice_count == "gen_ai.request.choice.count"
    assert a.input_messages == "gen_ai.input.messages"
    assert a.output_messages == "gen_ai.output.messages"
    assert a.system_instructions == "gen_ai.system_instructions"
    assert a.tool_definitions == "gen_ai.tool.definitions"
    assert a.tool_call_arguments == "gen_ai.tool.call.arguments"
    assert a.tool_call_result == "gen_ai.tool.call.result"
    assert a.embeddings_dimension_count == "gen_ai.embeddings.dimension.count"
    assert a.error_type == "error.type"
    assert a.deployment_environment == "deployment.environment.name"
    # Every GenAI name in the table is a gen_ai.* name, and no two fields share one.
    names = [getattr(a, f.name) for f in dataclasses.fields(a)]
    assert len(names) == len(set(names))


def test_metric_names_units_and_advisory_buckets() -> None:
    m = DEFAULT.metrics
    assert (m.operation_duration.name, m.operation_duration.unit) == ("gen_ai.client.operation.duration", "s")
    assert (m.token_usage.name, m.token_usage.unit) == ("gen_ai.client.token.usage", "{token}")
    assert (m.time_to_first_chunk.name, m.time_to_first_chunk.unit) == (
        "gen_ai.client.operation.time_to_first_chunk",
        "s",
    )
    assert m.operation_duration.buckets == (
        0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
    )  # fmt: skip
    assert m.time_to_first_chunk.buckets == m.operation_duration.buckets
    assert m.token_usage.buckets == (
        1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
    )  # fmt: skip
    assert m.overflow_attribute == "otel.metric.overflow"
    assert (DEFAULT.token_type_input, DEFAULT.token_type_output) == ("input", "output")


def test_well_known_values() -> None:
    assert DEFAULT.operations.all() == {
        "chat",
        "create_agent",
        "embeddings",
        "execute_tool",
        "generate_content",
        "invoke_agent",
        "invoke_workflow",
        "retrieval",
        "text_completion",
    }
    assert "x_ai" in DEFAULT.providers and "xai" not in DEFAULT.providers
    assert len(DEFAULT.providers) == 15
    assert DEFAULT.output_types == {"image", "json", "speech", "text"}
    assert DEFAULT.error_type_other == "_OTHER"


@pytest.mark.parametrize(
    ("seen", "logical", "current"),
    [
        ("gen_ai.system", "provider_name", "gen_ai.provider.name"),
        ("gen_ai.usage.prompt_tokens", "usage_input_tokens", "gen_ai.usage.input_tokens"),
        ("gen_ai.usage.completion_tokens", "usage_output_tokens", "gen_ai.usage.output_tokens"),
        ("gen_ai.openai.request.seed", "request_seed", "gen_ai.request.seed"),
        ("gen_ai.openai.request.response_format", "output_type", "gen_ai.output.type"),
        (
            "gen_ai.usage.cache_read_input_tokens",
            "usage_cache_read_input_tokens",
            "gen_ai.usage.cache_read.input_tokens",
        ),
        (
            "gen_ai.usage.cache_write_input_tokens",
            "usage_cache_creation_input_tokens",
            "gen_ai.usage.cache_creation.input_tokens",
        ),
        (
            "gen_ai.usage.reasoning_tokens",
            "usage_reasoning_output_tokens",
            "gen_ai.usage.reasoning.output_tokens",
        ),
        ("gen_ai.usage.cache_write.input_tokens", "usage_cache_creation_input_tokens", None),
    ],
)
def test_receiver_index_maps_aliases_to_current_names(seen: str, logical: str, current: str | None) -> None:
    index = receiver_attribute_index()
    assert index[seen] == logical
    if current is not None:
        assert getattr(DEFAULT.attrs, logical) == current
        assert index[current] == logical


def test_current_names_win_over_aliases() -> None:
    index = receiver_attribute_index()
    for field in dataclasses.fields(DEFAULT.attrs):
        assert index[getattr(DEFAULT.attrs, field.name)] == field.name
    # No alias is also a current name, so nothing the emitter writes is ever renamed on input.
    current = {getattr(DEFAULT.attrs, f.name) for f in dataclasses.fields(DEFAULT.attrs)}
    assert not current & set(ATTRIBUTE_ALIASES)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("xai", "x_ai"),
        ("az.ai.inference", "azure.ai.inference"),
        ("az.ai.openai", "azure.ai.openai"),
        ("vertex_ai", "gcp.vertex_ai"),
        ("gemini", "gcp.gemini"),
        ("OpenAI", "openai"),
        ("bedrock", "aws.bedrock"),
        ("gcp.gen_ai", "gcp.gen_ai"),
        ("my-local-llm", "my-local-llm"),
    ],
)
def test_normalize_provider(value: str, expected: str) -> None:
    assert normalize_provider(value) == expected


@pytest.mark.parametrize(
    ("operation", "default", "expected"),
    [
        ("generateText", "chat", "chat"),
        ("streamText", "chat", "chat"),
        ("embed", "chat", "embeddings"),
        ("chat", "embeddings", "chat"),
        ("custom", "execute_tool", "execute_tool"),
        ("", "invoke_agent", "invoke_agent"),
        ("rerank", "chat", "rerank"),  # the enum is open: custom names are kept
        ("", "", ""),
    ],
)
def test_normalize_operation(operation: str, default: str, expected: str) -> None:
    assert normalize_operation(operation, default) == expected


def test_content_attribute_names() -> None:
    names = content_attribute_names()
    assert {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.definitions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "gen_ai.prompt",
        "gen_ai.completion",
        EXTENSIONS.conversation_title,
    } <= names
    assert "gen_ai.request.model" not in names


def test_extension_names_do_not_use_the_gen_ai_namespace() -> None:
    for field in dataclasses.fields(EXTENSIONS):
        assert not getattr(EXTENSIONS, field.name).startswith("gen_ai."), field.name
