"""OpenTelemetry GenAI semantic-convention names, in one table keyed by convention version.

Every OTLP emitter in the gateway reads attribute names, metric names, units, advisory buckets and
well-known values from a :class:`SemConv` instance (default :data:`DEFAULT`, version ``1.41.1``,
the last GenAI release of the main semantic-conventions repo). The GenAI conventions have moved
to a new repository with unreleased renames (``cache_creation`` → ``cache_write``, new metric
names); supporting them later is one more entry in :data:`VERSIONS`, made with
:func:`dataclasses.replace` from the 1.41.1 table, not an edit of the emitters.

Receivers accept more than they emit: the union of the table's names plus the deprecated and
vendor names in :data:`.aliases.ATTRIBUTE_ALIASES` (semconv ≤1.36, Sigil SDK 0.9.3, OpenLLMetry),
and the value renames in :data:`.aliases.PROVIDER_ALIASES`. Aliases (:mod:`.aliases`) are mapped
in and never emitted.

Names that no convention defines but the gateway needs for record fields (Sigil's own span
attributes, and ``gateway.*`` names for the rest) live in :class:`ExtensionNames`, so that an
OTLP hop between two gateways keeps the record whole.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from gateway.formats.otlp.aliases import ATTRIBUTE_ALIASES, OPERATION_ALIASES, PROVIDER_ALIASES


@dataclass(frozen=True, slots=True, kw_only=True)
class AttributeNames:
    """Span, metric and resource attribute names. Field names are the logical keys that
    :data:`ATTRIBUTE_ALIASES` points at."""

    operation_name: str
    provider_name: str
    conversation_id: str
    agent_id: str
    agent_name: str
    agent_version: str
    agent_description: str
    data_source_id: str
    workflow_name: str
    output_type: str
    request_model: str
    request_max_tokens: str
    request_temperature: str
    request_top_p: str
    request_top_k: str
    request_frequency_penalty: str
    request_presence_penalty: str
    request_stop_sequences: str
    request_seed: str
    request_choice_count: str
    request_stream: str
    request_encoding_formats: str
    response_id: str
    response_model: str
    response_finish_reasons: str
    response_time_to_first_chunk: str  # seconds (double)
    usage_input_tokens: str
    usage_output_tokens: str
    usage_cache_read_input_tokens: str
    usage_cache_creation_input_tokens: str
    usage_reasoning_output_tokens: str
    embeddings_dimension_count: str
    tool_name: str
    tool_call_id: str
    tool_type: str
    tool_description: str
    tool_call_arguments: str  # opt-in content
    tool_call_result: str  # opt-in content
    input_messages: str  # opt-in content
    output_messages: str  # opt-in content
    system_instructions: str  # opt-in content
    tool_definitions: str  # opt-in content
    token_type: str  # metric attribute
    error_type: str
    server_address: str
    server_port: str
    user_id: str
    session_id: str
    # Resource attributes.
    service_name: str
    deployment_environment: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricSpec:
    name: str
    unit: str
    description: str
    buckets: tuple[float, ...]  # advisory explicit bucket boundaries


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricNames:
    token_usage: MetricSpec
    operation_duration: MetricSpec
    time_to_first_chunk: MetricSpec
    time_per_output_chunk: MetricSpec
    overflow_attribute: str  # OTel SDK cardinality-limit marker, not GenAI-specific


@dataclass(frozen=True, slots=True, kw_only=True)
class Operations:
    """Well-known ``gen_ai.operation.name`` values."""

    chat: str
    text_completion: str
    generate_content: str
    embeddings: str
    retrieval: str
    execute_tool: str
    create_agent: str
    invoke_agent: str
    invoke_workflow: str

    def all(self) -> frozenset[str]:
        return _operation_values(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class SemConv:
    version: str
    schema_url: str
    attrs: AttributeNames
    metrics: MetricNames
    operations: Operations
    token_type_input: str
    token_type_output: str
    error_type_other: str  # the fallback error.type value
    providers: frozenset[str]
    output_types: frozenset[str]
    tool_types: frozenset[str]
    finish_reasons: frozenset[str]


_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
_TOKEN_BUCKETS = tuple(float(4**i) for i in range(14))  # 1, 4, 16, ..., 67108864

V1_41_1 = SemConv(
    version="1.41.1",
    schema_url="https://opentelemetry.io/schemas/1.41.1",
    attrs=AttributeNames(
        operation_name="gen_ai.operation.name",
        provider_name="gen_ai.provider.name",
        conversation_id="gen_ai.conversation.id",
        agent_id="gen_ai.agent.id",
        agent_name="gen_ai.agent.name",
        agent_version="gen_ai.agent.version",
        agent_description="gen_ai.agent.description",
        data_source_id="gen_ai.data_source.id",
        workflow_name="gen_ai.workflow.name",
        output_type="gen_ai.output.type",
        request_model="gen_ai.request.model",
        request_max_tokens="gen_ai.request.max_tokens",
        request_temperature="gen_ai.request.temperature",
        request_top_p="gen_ai.request.top_p",
        request_top_k="gen_ai.request.top_k",
        request_frequency_penalty="gen_ai.request.frequency_penalty",
        request_presence_penalty="gen_ai.request.presence_penalty",
        request_stop_sequences="gen_ai.request.stop_sequences",
        request_seed="gen_ai.request.seed",
        request_choice_count="gen_ai.request.choice.count",
        request_stream="gen_ai.request.stream",
        request_encoding_formats="gen_ai.request.encoding_formats",
        response_id="gen_ai.response.id",
        response_model="gen_ai.response.model",
        response_finish_reasons="gen_ai.response.finish_reasons",
        response_time_to_first_chunk="gen_ai.response.time_to_first_chunk",
        usage_input_tokens="gen_ai.usage.input_tokens",
        usage_output_tokens="gen_ai.usage.output_tokens",
        usage_cache_read_input_tokens="gen_ai.usage.cache_read.input_tokens",
        usage_cache_creation_input_tokens="gen_ai.usage.cache_creation.input_tokens",
        usage_reasoning_output_tokens="gen_ai.usage.reasoning.output_tokens",
        embeddings_dimension_count="gen_ai.embeddings.dimension.count",
        tool_name="gen_ai.tool.name",
        tool_call_id="gen_ai.tool.call.id",
        tool_type="gen_ai.tool.type",
        tool_description="gen_ai.tool.description",
        tool_call_arguments="gen_ai.tool.call.arguments",
        tool_call_result="gen_ai.tool.call.result",
        input_messages="gen_ai.input.messages",
        output_messages="gen_ai.output.messages",
        system_instructions="gen_ai.system_instructions",
        tool_definitions="gen_ai.tool.definitions",
        token_type="gen_ai.token.type",
        error_type="error.type",
        server_address="server.address",
        server_port="server.port",
        user_id="user.id",
        session_id="session.id",
        service_name="service.name",
        deployment_environment="deployment.environment.name",
    ),
    metrics=MetricNames(
        token_usage=MetricSpec(
            name="gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used.",
            buckets=_TOKEN_BUCKETS,
        ),
        operation_duration=MetricSpec(
            name="gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
            buckets=_DURATION_BUCKETS,
        ),
        time_to_first_chunk=MetricSpec(
            name="gen_ai.client.operation.time_to_first_chunk",
            unit="s",
            description="Time to receive the first chunk of a streaming response.",
            buckets=_DURATION_BUCKETS,
        ),
        time_per_output_chunk=MetricSpec(
            name="gen_ai.client.operation.time_per_output_chunk",
            unit="s",
            description="Time between consecutive chunks of a streaming response.",
            buckets=_DURATION_BUCKETS,
        ),
        overflow_attribute="otel.metric.overflow",
    ),
    operations=Operations(
        chat="chat",
        text_completion="text_completion",
        generate_content="generate_content",
        embeddings="embeddings",
        retrieval="retrieval",
        execute_tool="execute_tool",
        create_agent="create_agent",
        invoke_agent="invoke_agent",
        invoke_workflow="invoke_workflow",
    ),
    token_type_input="input",
    token_type_output="output",
    error_type_other="_OTHER",
    providers=frozenset(
        {
            "anthropic",
            "aws.bedrock",
            "azure.ai.inference",
            "azure.ai.openai",
            "cohere",
            "deepseek",
            "gcp.gemini",
            "gcp.gen_ai",
            "gcp.vertex_ai",
            "groq",
            "ibm.watsonx.ai",
            "mistral_ai",
            "openai",
            "perplexity",
            "x_ai",
        }
    ),
    output_types=frozenset({"image", "json", "speech", "text"}),
    tool_types=frozenset({"function", "extension", "datastore"}),
    finish_reasons=frozenset({"stop", "length", "content_filter", "tool_call", "error"}),
)

DEFAULT_VERSION = "1.41.1"
VERSIONS: Mapping[str, SemConv] = MappingProxyType({V1_41_1.version: V1_41_1})
DEFAULT = VERSIONS[DEFAULT_VERSION]


def get_semconv(version: str = DEFAULT_VERSION) -> SemConv:
    """The table for ``version``; a config error names the versions that exist."""
    try:
        return VERSIONS[version]
    except KeyError:
        known = ", ".join(sorted(VERSIONS))
        raise ValueError(f"unknown semantic-convention version {version!r} (known: {known})") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtensionNames:
    """Attributes for record fields that no semantic convention covers.

    Sigil SDK 0.9.3 names are reused where Sigil already emits them (a receiver meets them on
    Sigil spans); everything else is under ``gateway.``. The ``*_prefix`` names are followed by a
    map key (``gateway.tag.team``).
    """

    generation_id: str  # record.id of an LLM record (Sigil generation id)
    record_id: str  # record.id of every other kind
    conversation_title: str
    tool_choice: str
    thinking_enabled: str
    parent_generation_ids: str
    original_operation: str  # record.operation when the emitted operation name differs
    record_kind: str  # record.kind when gen_ai.operation.name does not imply it
    record_name: str  # record.name when the span name is the convention's, not the record's
    trace_name: str
    workflow_run_id: str
    effective_version: str
    framework: str
    sdk_version: str
    prompt_hash: str
    tools_used: str
    cost_usd: str
    usage_total_tokens: str
    usage_image_count: str
    usage_web_search_count: str
    usage_request_count: str
    linked_generation_ids: str
    parent_step_ids: str
    input_state: str  # content (JSON string)
    output_state: str  # content (JSON string)
    customer_id: str
    customer_name: str
    customer_image_url: str
    tag_prefix: str
    metadata_prefix: str
    eval_score_prefix: str
    trace_metadata_prefix: str


EXTENSIONS = ExtensionNames(
    generation_id="sigil.generation.id",
    record_id="gateway.record.id",
    conversation_title="sigil.conversation.title",
    tool_choice="sigil.gen_ai.request.tool_choice",
    thinking_enabled="sigil.gen_ai.request.thinking.enabled",
    parent_generation_ids="sigil.generation.parent_generation_ids",
    original_operation="gateway.operation.original",
    record_kind="gateway.record.kind",
    record_name="gateway.record.name",
    trace_name="gateway.trace.name",
    workflow_run_id="gateway.workflow.run_id",
    effective_version="gateway.effective_version",
    framework="gateway.framework",
    sdk_version="gateway.sdk.version",
    prompt_hash="gateway.prompt.hash",
    tools_used="gateway.tools_used",
    cost_usd="gateway.cost.usd",
    usage_total_tokens="gateway.usage.total_tokens",
    usage_image_count="gateway.usage.image_count",
    usage_web_search_count="gateway.usage.web_search_count",
    usage_request_count="gateway.usage.request_count",
    linked_generation_ids="gateway.workflow.linked_generation_ids",
    parent_step_ids="gateway.workflow.parent_step_ids",
    input_state="gateway.workflow.input_state",
    output_state="gateway.workflow.output_state",
    customer_id="gateway.customer.id",
    customer_name="gateway.customer.name",
    customer_image_url="gateway.customer.image_url",
    tag_prefix="gateway.tag.",
    metadata_prefix="gateway.metadata.",
    eval_score_prefix="gateway.eval_score.",
    trace_metadata_prefix="gateway.trace.metadata.",
)


# Content attributes that have no record field (kept in Record.extra); gated like the others.
CONTENT_EXTRA_ATTRIBUTES = frozenset({"gen_ai.prompt", "gen_ai.completion", "gen_ai.embeddings.input_texts"})


def receiver_attribute_index(semconv: SemConv = DEFAULT) -> dict[str, str]:
    """Attribute name -> logical key, for every name a receiver accepts.

    The target version's names win over the other versions' and over the aliases, so an alias can
    never shadow a current name.
    """
    index: dict[str, str] = dict(ATTRIBUTE_ALIASES)
    for version in VERSIONS.values():
        if version is not semconv:
            index.update(_names(version))
    index.update(_names(semconv))
    return index


def content_attribute_names(semconv: SemConv = DEFAULT) -> frozenset[str]:
    """Every attribute that carries prompt or output content (opt-in in the conventions)."""
    a = semconv.attrs
    return frozenset(
        {
            a.input_messages,
            a.output_messages,
            a.system_instructions,
            a.tool_definitions,
            a.tool_call_arguments,
            a.tool_call_result,
            EXTENSIONS.conversation_title,
            EXTENSIONS.input_state,
            EXTENSIONS.output_state,
        }
        | CONTENT_EXTRA_ATTRIBUTES
    )


def normalize_provider(value: str, semconv: SemConv = DEFAULT) -> str:
    """The semconv spelling of a provider name; unknown names pass through unchanged."""
    lowered = value.lower()
    if lowered in semconv.providers:
        return lowered
    return PROVIDER_ALIASES.get(lowered, value)


def normalize_operation(operation: str, default: str, semconv: SemConv = DEFAULT) -> str:
    """``gen_ai.operation.name`` for a record's operation spelling.

    Aliases are renamed; other non-empty values are kept as custom operation names (the
    enum is open); an empty or placeholder operation becomes ``default`` (the record kind's).
    """
    if operation in semconv.operations.all():
        return operation
    renamed = OPERATION_ALIASES.get(operation, operation)
    return renamed or default


@functools.lru_cache(maxsize=8)
def _operation_values(operations: Operations) -> frozenset[str]:
    # Cached: emitters normalise an operation per record.
    return frozenset(getattr(operations, f.name) for f in dataclasses.fields(operations))


def _names(semconv: SemConv) -> dict[str, str]:
    return {getattr(semconv.attrs, f.name): f.name for f in dataclasses.fields(semconv.attrs)}
