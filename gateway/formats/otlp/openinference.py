"""OpenInference (Arize Phoenix) span attributes, as data: what the receiver reads and where.

The names were checked against ``openinference-semantic-conventions`` :data:`VERSION`
(``openinference.semconv.trace``). OpenInference spans carry no ``gen_ai.*`` attribute; they are
recognised by :data:`SPAN_KIND` and read by :mod:`.decode_openinference`, which follows these
tables. Messages, tools and documents are flattened lists
(``llm.input_messages.0.message.role``); their key pieces are listed here too.

Adding a name is a table entry here, not a code path in the decoder.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from gateway.model import Kind, Role

VERSION = "0.1.42"  # openinference-semantic-conventions the names were checked against

SPAN_KIND = "openinference.span.kind"

# openinference.span.kind -> record kind. Retrievers, rerankers, guardrails and the like are steps
# of the application's pipeline; UNKNOWN has no better home than OTHER.
SPAN_KINDS: Mapping[str, Kind] = MappingProxyType(
    {
        "LLM": Kind.LLM,
        "EMBEDDING": Kind.EMBEDDING,
        "TOOL": Kind.TOOL,
        "AGENT": Kind.AGENT,
        "CHAIN": Kind.WORKFLOW_STEP,
        "RETRIEVER": Kind.WORKFLOW_STEP,
        "RERANKER": Kind.WORKFLOW_STEP,
        "GUARDRAIL": Kind.WORKFLOW_STEP,
        "EVALUATOR": Kind.WORKFLOW_STEP,
        "PROMPT": Kind.WORKFLOW_STEP,
        "DECISION": Kind.WORKFLOW_STEP,
        "UNKNOWN": Kind.OTHER,
    }
)

# openinference.span.kind -> the record's operation (gen_ai.operation.name values); kinds that are
# absent keep the record kind's default operation.
SPAN_KIND_OPERATIONS: Mapping[str, str] = MappingProxyType(
    {
        "LLM": "chat",
        "EMBEDDING": "embeddings",
        "TOOL": "execute_tool",
        "AGENT": "invoke_agent",
        "RETRIEVER": "retrieval",
    }
)

# Scalar attribute -> (where, field). ``where`` is "record", "usage" or "state" (resolved by the
# decoder after the loop: ``llm.model_name`` is the request model unless another attribute named
# that (``llm.request.model_name``, the invocation parameters' ``model``) and it differs, then the
# response model; ``llm.provider`` wins over the older ``llm.system``).
SCALARS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "llm.model_name": ("state", "model_name"),
        "llm.request.model_name": ("record", "model"),
        "llm.response.model_name": ("record", "response_model"),
        "embedding.model_name": ("state", "model_name"),
        "llm.provider": ("state", "provider"),
        "llm.system": ("state", "system"),
        "llm.token_count.prompt": ("usage", "input_tokens"),
        "llm.token_count.completion": ("usage", "output_tokens"),
        "llm.token_count.total": ("usage", "total_tokens"),
        "llm.token_count.prompt_details.cache_read": ("usage", "cache_read_input_tokens"),
        "llm.token_count.prompt_details.cache_write": ("usage", "cache_write_input_tokens"),
        "llm.token_count.completion_details.reasoning": ("usage", "reasoning_tokens"),
        "llm.finish_reason": ("record", "stop_reason"),
        "llm.cost.total": ("record", "cost_usd"),
        "session.id": ("record", "session_id"),
        "user.id": ("record", "user_id"),
        "agent.name": ("record", "agent_name"),
        "tool.name": ("record", "tool_name"),
        "tool.description": ("record", "tool_description"),
        "tool.id": ("record", "tool_call_id"),
    }
)

# Attributes read as JSON text into the decoder's state.
INVOCATION_PARAMETERS = "llm.invocation_parameters"
METADATA = "metadata"  # JSON object -> Record.metadata
INPUT_VALUE = "input.value"
INPUT_MIME_TYPE = "input.mime_type"
OUTPUT_VALUE = "output.value"
OUTPUT_MIME_TYPE = "output.mime_type"
JSON_MIME_TYPE = "application/json"

# llm.invocation_parameters keys -> record request fields (the first key present wins).
# OpenInference's llm.model_name is what the response said when there was one (the OpenAI
# instrumentation); the requested model is the invocation parameters' "model".
INVOCATION_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("model", ("model", "model_name")),
    ("max_tokens", ("max_tokens", "max_completion_tokens", "max_output_tokens")),
    ("temperature", ("temperature",)),
    ("top_p", ("top_p",)),
    ("stream", ("stream",)),
)

# Flattened lists: prefix + index + "." + item prefix + field.
INPUT_MESSAGES = "llm.input_messages."
OUTPUT_MESSAGES = "llm.output_messages."
MESSAGE = "message."
TOOLS = "llm.tools."
TOOL_JSON_SCHEMA = "tool.json_schema"

# Within a message (after "message."):
MESSAGE_ROLE = "role"
MESSAGE_CONTENT = "content"
MESSAGE_NAME = "name"
MESSAGE_TOOL_CALL_ID = "tool_call_id"
MESSAGE_CONTENTS = "contents."  # + index + ".message_content." + field
CONTENT_ITEM = "message_content."
CONTENT_TYPE = "type"
CONTENT_TEXT = "text"
CONTENT_IMAGE_URL = "image.image.url"
MESSAGE_TOOL_CALLS = "tool_calls."  # + index + ".tool_call." + field
TOOL_CALL = "tool_call."
TOOL_CALL_ID = "id"
TOOL_CALL_NAME = "function.name"
TOOL_CALL_ARGUMENTS = "function.arguments"

# message.role values -> record roles ("developer" is OpenAI's newer name for system).
ROLES: Mapping[str, Role] = MappingProxyType(
    {
        "system": Role.SYSTEM,
        "developer": Role.SYSTEM,
        "user": Role.USER,
        "human": Role.USER,
        "assistant": Role.ASSISTANT,
        "model": Role.ASSISTANT,
        "ai": Role.ASSISTANT,
        "tool": Role.TOOL,
        "function": Role.TOOL,
    }
)

# Other flattened content the record has no field for; kept whole (as a nested dict) in
# ``Record.extra`` under :data:`CONTENT_EXTRA` so that the content processor can strip it.
CONTENT_PREFIXES = (
    "llm.prompts.",
    "llm.choices.",
    "llm.prompt_template.",
    "retrieval.documents.",
    "embedding.embeddings.",
    "reranker.input_documents.",
    "reranker.output_documents.",
)

# Content attributes kept raw in ``Record.extra`` (``otlp.attr.<name>``).
CONTENT_ATTRIBUTES = frozenset({INPUT_VALUE, OUTPUT_VALUE})
CONTENT_EXTRA = "otlp.openinference.content"  # Record.extra key of the other flattened content
