"""Names and values receivers accept beyond the conventions' own (deprecated, vendor and older
spellings), and the renames applied on the way out. Data only; :mod:`.semconv` re-exports them.
Aliases are mapped in and never emitted.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# --- Receiver aliases (map in, never emit) -------------------------------------------------------

# Deprecated or vendor attribute name -> logical key (an AttributeNames field name).
ATTRIBUTE_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "gen_ai.system": "provider_name",  # renamed in 1.37
        "gen_ai.usage.prompt_tokens": "usage_input_tokens",
        "gen_ai.usage.completion_tokens": "usage_output_tokens",
        "gen_ai.openai.request.seed": "request_seed",
        "gen_ai.openai.request.response_format": "output_type",
        # Sigil SDK 0.9.3 (and OpenLLMetry's Anthropic spelling of the same counts).
        "gen_ai.usage.cache_read_input_tokens": "usage_cache_read_input_tokens",
        "gen_ai.usage.cache_write_input_tokens": "usage_cache_creation_input_tokens",
        "gen_ai.usage.cache_creation_input_tokens": "usage_cache_creation_input_tokens",
        "gen_ai.usage.reasoning_tokens": "usage_reasoning_output_tokens",
        # semantic-conventions-genai (unreleased) rename of cache_creation.
        "gen_ai.usage.cache_write.input_tokens": "usage_cache_creation_input_tokens",
        "deployment.environment": "deployment_environment",  # resource, renamed in 1.27
        # OpenLLMetry (Traceloop) names beside the conventions' own.
        "gen_ai.is_streaming": "request_stream",
        "llm.is_streaming": "request_stream",
        "gen_ai.user": "user_id",
    }
)

# Vendor names for record fields that the conventions do not cover -> ExtensionNames field name.
EXTENSION_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "gen_ai.usage.total_tokens": "usage_total_tokens",  # OpenLLMetry
        "llm.usage.total_tokens": "usage_total_tokens",  # OpenLLMetry < 0.40
        "operation.cost": "cost_usd",  # logfire
    }
)

# Aliases whose cache counts do not say whether input_tokens includes them (Sigil is ambiguous).
AMBIGUOUS_CACHE_ALIASES = frozenset(
    {
        "gen_ai.usage.cache_read_input_tokens",
        "gen_ai.usage.cache_write_input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
    }
)

# Provider value renames (`gen_ai.system` values, and common SDK spellings), keys lower-case.
PROVIDER_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "xai": "x_ai",
        "az.ai.inference": "azure.ai.inference",
        "az.ai.openai": "azure.ai.openai",
        "vertex_ai": "gcp.vertex_ai",
        "vertexai": "gcp.vertex_ai",
        "vertex": "gcp.vertex_ai",
        "gemini": "gcp.gemini",
        "google": "gcp.gemini",  # Foglamp/LumiqTrace `google` wraps the Gemini API
        "bedrock": "aws.bedrock",
        "mistral": "mistral_ai",
        "mistralai": "mistral_ai",
        "watsonx": "ibm.watsonx.ai",
        "azure": "azure.ai.openai",
    }
)

# Record.operation spellings of other formats -> gen_ai.operation.name. An empty value means
# "no operation of its own": the emitter uses the record kind's default operation.
OPERATION_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "generateText": "chat",  # Sigil
        "streamText": "chat",  # Sigil
        "embed": "embeddings",  # LumiqTrace
        "embedding": "embeddings",
        "completion": "text_completion",
        "tool": "execute_tool",  # LumiqTrace concepts page
        "agent": "invoke_agent",  # LumiqTrace concepts page
        "custom": "",  # LumiqTrace placeholder
    }
)

# Deprecated attributes with a current name (semconv 1.41.1's registry: "Replaced by ..."); a
# value kept under the old name is emitted under the new one (and the old one only on request).
DEPRECATED_RENAMES: Mapping[str, str] = MappingProxyType(
    {
        "gen_ai.openai.request.service_tier": "openai.request.service_tier",
        "gen_ai.openai.response.service_tier": "openai.response.service_tier",
        "gen_ai.openai.response.system_fingerprint": "openai.response.system_fingerprint",
    }
)
# Deprecated and removed with no replacement (content now in gen_ai.input/output.messages).
DEPRECATED_REMOVED = frozenset({"gen_ai.prompt", "gen_ai.completion"})

# Provider finish-reason values -> the conventions' values (gen_ai.response.finish_reasons).
FINISH_REASON_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "end_turn": "stop",  # Anthropic
        "stop_sequence": "stop",  # Anthropic
        "max_tokens": "length",  # Anthropic
        "tool_use": "tool_call",  # Anthropic
        "tool_calls": "tool_call",  # OpenAI
        "function_call": "tool_call",  # OpenAI (legacy)
        "STOP": "stop",  # Gemini
        "MAX_TOKENS": "length",  # Gemini
        "SAFETY": "content_filter",  # Gemini
    }
)

OUTPUT_TYPE_ALIASES: Mapping[str, str] = MappingProxyType(
    {"json_object": "json", "json_schema": "json"}  # old gen_ai.openai.request.response_format
)

TOKEN_TYPE_ALIASES: Mapping[str, str] = MappingProxyType({"completion": "output", "prompt": "input"})

# Metric names emitted by SDKs -> logical key (MetricNames field name).
METRIC_ALIASES: Mapping[str, str] = MappingProxyType(
    {"gen_ai.client.time_to_first_token": "time_to_first_chunk"}  # Sigil SDK
)
