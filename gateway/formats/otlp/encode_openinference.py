"""Records -> OpenInference span attributes (the ``otlp`` exporter's ``conventions: [openinference]``).

The inverse of :mod:`.decode_openinference`, with the names of :mod:`.openinference`: what this
writes, the receiver reads back into the same record fields. Content (messages, tool definitions,
tool arguments and results) only with ``include_content``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import orjson

from gateway.formats.otlp import content
from gateway.formats.otlp import openinference as oi
from gateway.formats.otlp import values as v
from gateway.model import Kind, Message, Part, PartKind, Record, Role

# Record kind -> openinference.span.kind (the first OpenInference kind mapped onto it).
KIND_SPAN_KINDS: Mapping[Kind, str] = MappingProxyType(
    {
        Kind.LLM: "LLM",
        Kind.EMBEDDING: "EMBEDDING",
        Kind.TOOL: "TOOL",
        Kind.AGENT: "AGENT",
        Kind.WORKFLOW_STEP: "CHAIN",
        Kind.OTHER: "UNKNOWN",
    }
)
# The conventions' provider names -> OpenInference's llm.provider values (others as they are).
PROVIDERS: Mapping[str, str] = MappingProxyType(
    {
        "gcp.gemini": "google",
        "gcp.vertex_ai": "google",
        "gcp.gen_ai": "google",
        "azure.ai.openai": "azure",
        "azure.ai.inference": "azure",
        "aws.bedrock": "aws",
        "mistral_ai": "mistralai",
        "x_ai": "xai",
    }
)


def attributes(record: Record, include_content: bool) -> list[tuple[str, Any]]:
    """The OpenInference attributes of a record, in a stable order; empty values left out."""
    out: list[tuple[str, Any]] = [(oi.SPAN_KIND, KIND_SPAN_KINDS[record.kind])]

    def put(key: str, value: Any) -> None:
        if value is not None and value != "":
            out.append((key, value))

    put("llm.model_name" if record.kind is not Kind.EMBEDDING else "embedding.model_name", record.model)
    put("llm.response.model_name", record.response_model if record.response_model != record.model else "")
    put("llm.provider", PROVIDERS.get(record.provider, record.provider))
    usage = record.usage
    put("llm.token_count.prompt", v.inclusive_input_tokens(usage, record.provider))
    put("llm.token_count.completion", usage.output_tokens)
    put("llm.token_count.total", usage.total_tokens)
    put("llm.token_count.prompt_details.cache_read", usage.cache_read_input_tokens)
    put("llm.token_count.prompt_details.cache_write", usage.cache_write_input_tokens)
    put("llm.token_count.completion_details.reasoning", usage.reasoning_tokens)
    params = {
        key: value
        for key, value in (
            ("model", record.model),
            ("max_tokens", record.max_tokens),
            ("temperature", record.temperature),
            ("top_p", record.top_p),
            ("stream", record.stream),
            ("tool_choice", record.tool_choice),
        )
        if value is not None and value != ""
    }
    if len(params) > (1 if "model" in params else 0):
        put(oi.INVOCATION_PARAMETERS, orjson.dumps(params).decode())
    put("llm.finish_reason", record.stop_reason)
    put("llm.cost.total", record.cost_usd)
    put("session.id", record.session_id)
    put("user.id", record.user_id)
    put("agent.name", record.agent_name)
    put("tool.name", record.tool_name)
    put("tool.description", record.tool_description)
    put("tool.id", record.tool_call_id)
    if record.metadata:
        put(oi.METADATA, orjson.dumps(record.metadata, default=str).decode())
    if include_content:
        _content(record, out)
    return out


def _content(record: Record, out: list[tuple[str, Any]]) -> None:
    inputs = list(record.input)
    if record.system_prompt:
        out.extend(_messages(oi.INPUT_MESSAGES, [_system(record.system_prompt)]))
        offset = 1
    else:
        offset = 0
    out.extend(_messages(oi.INPUT_MESSAGES, inputs, offset))
    out.extend(_messages(oi.OUTPUT_MESSAGES, record.output))
    for index, tool in enumerate(record.tools):
        function: dict[str, Any] = {"name": tool.name}
        if tool.description:
            function["description"] = tool.description
        if tool.input_schema_json:
            function["parameters"] = content.json_value(tool.input_schema_json)
        schema = {"type": tool.type or "function", "function": function}
        out.append((f"{oi.TOOLS}{index}.{oi.TOOL_JSON_SCHEMA}", orjson.dumps(schema).decode()))
    if record.kind is Kind.TOOL:
        if record.tool_arguments_json:
            out.append((oi.INPUT_VALUE, record.tool_arguments_json.decode("utf-8", "replace")))
        if record.tool_result_json:
            out.append((oi.OUTPUT_VALUE, record.tool_result_json.decode("utf-8", "replace")))


def _system(text: str) -> Message:
    return Message(Role.SYSTEM, [Part(PartKind.TEXT, text=text)])


def _messages(prefix: str, messages: list[Message], offset: int = 0) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for index, message in enumerate(messages, start=offset):
        base = f"{prefix}{index}.{oi.MESSAGE}"
        if message.role is not Role.UNSPECIFIED:
            out.append((base + oi.MESSAGE_ROLE, message.role.value))
        if message.name:
            out.append((base + oi.MESSAGE_NAME, message.name))
        texts = [p.text for p in message.parts if p.kind is PartKind.TEXT]
        results = [p for p in message.parts if p.kind is PartKind.TOOL_RESULT]
        if results:
            result = results[0]
            out.append((base + oi.MESSAGE_TOOL_CALL_ID, result.tool_call_id))
            body = result.tool_result_content or result.tool_result_json.decode("utf-8", "replace")
            out.append((base + oi.MESSAGE_CONTENT, body))
        elif texts:
            out.append((base + oi.MESSAGE_CONTENT, "".join(texts)))
        media = [p for p in message.parts if p.kind is PartKind.MEDIA and p.media_url]
        for j, part in enumerate(media):
            item = f"{base}{oi.MESSAGE_CONTENTS}{j}.{oi.CONTENT_ITEM}"
            out.append((item + oi.CONTENT_TYPE, "image"))
            out.append((item + oi.CONTENT_IMAGE_URL, part.media_url))
        calls = [p for p in message.parts if p.kind is PartKind.TOOL_CALL]
        for j, call in enumerate(calls):
            item = f"{base}{oi.MESSAGE_TOOL_CALLS}{j}.{oi.TOOL_CALL}"
            if call.tool_call_id:
                out.append((item + oi.TOOL_CALL_ID, call.tool_call_id))
            out.append((item + oi.TOOL_CALL_NAME, call.tool_name))
            if call.tool_input_json:
                out.append((item + oi.TOOL_CALL_ARGUMENTS, call.tool_input_json.decode("utf-8", "replace")))
    return out
