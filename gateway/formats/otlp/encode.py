"""Records -> OTLP traces (the sending direction), following the GenAI semantic conventions (v1.41.1 by default).

Pure translation: no sockets. ``docs/mapping.md`` has the attribute-by-attribute table.

Emitting (:func:`records_to_traces`), one span per record:

* Names come only from the :mod:`.semconv` table passed in, so a convention switch is one place.
* ``gen_ai.operation.name`` is the record's operation normalised (Sigil ``generateText`` /
  ``streamText`` -> ``chat``, LumiqTrace ``embed`` -> ``embeddings``; an empty operation gets the
  record kind's). When that changes the spelling, the record's own goes to
  ``gateway.operation.original`` so the next hop (and a Sigil exporter) gets it back.
* Span name ``{operation} {subject}`` (model; tool, agent or workflow name for those spans) and
  kind CLIENT for model, embedding and agent calls, INTERNAL otherwise. A record decoded from
  OTLP keeps its span's own name and kind.
* ``gen_ai.usage.input_tokens`` includes cached tokens; see
  :func:`._otlp_values.inclusive_input_tokens` for when they are summed in.
* Ids: a record's hex ids are kept; anything else is replaced by a sha256-derived id of the
  record's ids (or its identity when it has none), so a retry sends the same ids and parent
  links between derived ids still match.
* Resource: ``service.name`` = ``llm-telemetry-gateway`` < configured attributes < the record's
  own (``otlp.resource.*`` extras, ``deployment.environment.name``). Spans are grouped by
  resource, then by instrumentation scope.
* Content attributes (messages, system instructions, tool definitions, tool arguments and
  results, conversation titles, workflow state) only when ``include_content``, and never for a
  record whose capture-mode label (``gateway.formats.capture_mode_key()``) is ``metadata_only`` (its source or a
  ``content`` processor asked for no content; stripped texts would still leak the structure);
  they are JSON strings in the conventions' part shapes.
* ``Record.extra`` ``otlp.attr.*`` values are re-emitted unless a record field already produced
  the attribute (the field is the newer truth: a processor may have changed it).

* A pass-through record (``extra["otlp.passthrough"]``, see :func:`traces_to_records`) is
  emitted as the span it came from: no ``gateway.record.kind`` and no ``error.type`` fallback.

"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson
from google.protobuf.internal.containers import RepeatedCompositeFieldContainer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from gateway import formats
from gateway.formats.otlp import content, encode_openinference
from gateway.formats.otlp import values as v
from gateway.formats.otlp.aliases import (
    ATTRIBUTE_ALIASES,
    DEPRECATED_REMOVED,
    DEPRECATED_RENAMES,
    FINISH_REASON_ALIASES,
)
from gateway.formats.otlp.decode import is_passthrough
from gateway.formats.otlp.semconv import (
    DEFAULT,
    EXTENSIONS,
    SemConv,
    content_attribute_names,
    normalize_operation,
    normalize_provider,
)
from gateway.model import Kind, Record
from gateway.model import Status as RecordStatus

DEFAULT_SERVICE_NAME = "llm-telemetry-gateway"
DEFAULT_SCOPE_NAME = "llm-telemetry-gateway"

_Put = Callable[[str, Any], None]  # adds an attribute unless the value is empty

_SPAN_KINDS = {
    Kind.LLM: Span.SPAN_KIND_CLIENT,
    Kind.EMBEDDING: Span.SPAN_KIND_CLIENT,
    Kind.AGENT: Span.SPAN_KIND_CLIENT,  # the conventions' remote-agent case
    Kind.TOOL: Span.SPAN_KIND_INTERNAL,
    Kind.WORKFLOW_STEP: Span.SPAN_KIND_INTERNAL,
    Kind.OTHER: Span.SPAN_KIND_INTERNAL,
}


GEN_AI = "gen_ai"  # the GenAI semantic conventions' attributes
OPENINFERENCE = "openinference"  # OpenInference's (Arize Phoenix) attributes
CONVENTIONS = (GEN_AI, OPENINFERENCE)
_GEN_AI_PREFIX = "gen_ai."


def records_to_traces(
    records: Iterable[Record],
    *,
    resource_attributes: Mapping[str, str],
    include_content: bool,
    semconv: SemConv = DEFAULT,
    emit_deprecated: bool = False,
    conventions: Iterable[str] = (GEN_AI,),
) -> ExportTraceServiceRequest:
    """One export request for a batch of records (rules in the module docstring). With
    ``emit_deprecated`` a deprecated attribute kept from the source is emitted beside its
    current name. ``conventions`` names the attribute sets written: :data:`GEN_AI`, and/or
    :data:`OPENINFERENCE` (:mod:`.encode_openinference`)."""
    conventions = frozenset(conventions)
    writer = _writer(semconv)
    mode_key = formats.capture_mode_key()  # once per request, not per span
    request = ExportTraceServiceRequest()
    defaults: dict[str, Any] = {semconv.attrs.service_name: DEFAULT_SERVICE_NAME, **resource_attributes}
    groups: dict[str, tuple[ResourceSpans, dict[tuple[str, str, str], ScopeSpans]]] = {}
    for record in records:
        extra = record.extra
        resource = dict(defaults)
        for key, value in extra.items():
            if key.startswith(v.EXTRA_RESOURCE):
                resource[key[len(v.EXTRA_RESOURCE) :]] = value
        if record.environment:
            resource[semconv.attrs.deployment_environment] = record.environment
        resource_schema = _str(extra.get(v.EXTRA_RESOURCE_SCHEMA_URL))
        group_key = repr((sorted(resource.items()), resource_schema))
        group = groups.get(group_key)
        if group is None:
            rs = request.resource_spans.add(schema_url=resource_schema)
            for key, value in resource.items():
                v.add_attribute(rs.resource.attributes, key, value)
            group = groups[group_key] = (rs, {})
        scope_name = _str(extra.get(v.EXTRA_SCOPE_NAME)) or DEFAULT_SCOPE_NAME
        scope_key = (
            scope_name,
            _str(extra.get(v.EXTRA_SCOPE_VERSION)),
            _str(extra.get(v.EXTRA_SCOPE_SCHEMA_URL, semconv.schema_url if scope_name == DEFAULT_SCOPE_NAME else "")),
        )
        ss = group[1].get(scope_key)
        if ss is None:
            ss = group[0].scope_spans.add(schema_url=scope_key[2])
            ss.scope.name, ss.scope.version = scope_key[0], scope_key[1]
            group[1][scope_key] = ss
        with_content = include_content and record.metadata.get(mode_key) != "metadata_only"
        writer.span(ss.spans.add(), record, with_content, emit_deprecated, conventions)
    return request


# --- record -> span -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _writer(semconv: SemConv) -> _Writer:
    return _Writer(semconv)


class _Writer:
    """Emits spans for one convention version; per-version tables are built once."""

    def __init__(self, semconv: SemConv) -> None:
        self.semconv = semconv
        ops = semconv.operations
        self.kind_operations = {
            Kind.LLM: ops.chat,
            Kind.EMBEDDING: ops.embeddings,
            Kind.TOOL: ops.execute_tool,
            Kind.AGENT: ops.invoke_agent,
            Kind.WORKFLOW_STEP: ops.invoke_workflow,
        }
        self.content_names = content_attribute_names(semconv)
        # Deprecated name -> current name, for attributes kept in extra under an old name.
        self.deprecated = {
            **{old: getattr(semconv.attrs, logical) for old, logical in ATTRIBUTE_ALIASES.items()},
            **DEPRECATED_RENAMES,
        }
        self.deprecated = {old: new for old, new in self.deprecated.items() if old != new}
        # The kind each well-known operation implies on the way back in (_otlp_receive).
        self.operation_kinds = v.operation_kinds(semconv)

    def span(
        self,
        span: Span,
        record: Record,
        include_content: bool,
        emit_deprecated: bool = False,
        conventions: frozenset[str] = frozenset({"gen_ai"}),
    ) -> None:
        sc, extra = self.semconv, record.extra
        operation = normalize_operation(record.operation, self.kind_operations.get(record.kind, ""), sc)
        _set_ids(span, record)
        span.start_time_unix_nano, span.end_time_unix_nano = _times(record.start_ns, record.end_ns)
        name = self._name(operation, record)
        original_kind = extra.get(v.EXTRA_SPAN_KIND)
        if isinstance(original_kind, int) and not isinstance(original_kind, bool):
            span.kind = original_kind  # type: ignore[assignment]
            # A relayed GenAI span is named as the conventions say ({operation} {model}); its own
            # name travels as gateway.record.name. A pass-through span keeps its name.
            original_name = _str(extra.get(v.EXTRA_SPAN_NAME)) or record.name or name
            span.name = original_name if is_passthrough(record) or record.kind is Kind.OTHER else name
        else:
            span.kind = _SPAN_KINDS[record.kind]
            span.name = name
        attrs = span.attributes
        emitted: set[str] = set()

        def put(key: str, value: Any) -> None:
            if value is None or value == "" or value == [] or value == {}:
                return
            v.add_attribute(attrs, key, value)
            emitted.add(key)

        finish_reasons = self._put_fields(record, operation, span.name, put, is_passthrough(record))
        _put_extensions(record, put, attrs, emitted)
        if include_content:
            self._content(record, put, finish_reasons)
        for key, value in extra.items():
            if not key.startswith(v.EXTRA_ATTR):
                continue
            attr = key[len(v.EXTRA_ATTR) :]
            if attr in emitted or (not include_content and attr in self.content_names):
                continue
            if attr in self.deprecated or attr in DEPRECATED_REMOVED:
                # Upgraded to the current name; the old one only for backends that need it.
                current = self.deprecated.get(attr)
                if current is not None and current not in emitted and f"{v.EXTRA_ATTR}{current}" not in extra:
                    v.add_attribute(attrs, current, value)
                    emitted.add(current)
                if not emit_deprecated:
                    continue
            v.add_attribute(attrs, attr, _typed(attr, value, self.semconv))
        if OPENINFERENCE in conventions and not is_passthrough(record):
            present = {kv.key for kv in attrs}
            for key, value in encode_openinference.attributes(record, include_content):
                if key not in present:
                    v.add_attribute(attrs, key, value)
        if GEN_AI not in conventions and not is_passthrough(record):
            kept = [kv for kv in attrs if not kv.key.startswith(_GEN_AI_PREFIX)]
            del attrs[:]
            attrs.extend(kept)
        self._status(span, record)
        _span_details(span, extra)

    def _put_fields(self, record: Record, operation: str, span_name: str, put: _Put, passthrough: bool) -> list[str]:
        """The attributes of record fields (conventions first); returns the finish reasons.
        A pass-through span gets nothing the conventions would add to a GenAI span."""
        sc, a, x = self.semconv, self.semconv.attrs, EXTENSIONS
        put(a.operation_name, operation)
        if record.operation != operation:
            put(x.original_operation, record.operation)
        if span_name != record.name:
            put(x.record_name, record.name)
        if not passthrough and self.operation_kinds.get(operation) is not record.kind:
            put(x.record_kind, record.kind.value)
        put(a.provider_name, normalize_provider(record.provider, sc) if record.provider else "")
        put(a.request_model, record.model)
        put(a.conversation_id, record.conversation_id)
        put(a.agent_name, record.agent_name)
        put(a.agent_version, record.agent_version)
        put(a.workflow_name, record.workflow_name)
        put(a.request_max_tokens, record.max_tokens)
        put(a.request_temperature, record.temperature)
        put(a.request_top_p, record.top_p)
        put(a.request_stream, True if record.stream else None)  # set only when streaming
        put(a.response_id, record.response_id)
        put(a.response_model, record.response_model)
        finish_reasons = self._finish_reasons(record, put)
        self._ttfc(record, put)
        usage = record.usage
        put(a.usage_input_tokens, v.inclusive_input_tokens(usage, record.provider))
        put(a.usage_output_tokens, usage.output_tokens)
        put(a.usage_cache_read_input_tokens, usage.cache_read_input_tokens)
        put(a.usage_cache_creation_input_tokens, usage.cache_write_input_tokens)
        put(a.usage_reasoning_output_tokens, usage.reasoning_tokens)
        put(a.tool_name, record.tool_name)
        put(a.tool_call_id, record.tool_call_id)
        put(a.tool_type, record.tool_type)
        put(a.tool_description, record.tool_description)
        put(a.error_type, record.error_type if passthrough else v.error_type(record, sc.error_type_other))
        put(a.user_id, record.user_id)
        put(a.session_id, record.session_id)
        return finish_reasons

    def _name(self, operation: str, record: Record) -> str:
        ops = self.semconv.operations
        if operation == ops.execute_tool:
            subject = record.tool_name
        elif operation in (ops.invoke_agent, ops.create_agent):
            subject = record.agent_name
        elif operation == ops.invoke_workflow:
            subject = record.workflow_name
        elif operation == ops.retrieval:
            subject = _str(record.extra.get(v.EXTRA_ATTR + self.semconv.attrs.data_source_id))
        else:
            subject = record.model
        if not operation:
            return record.name or record.kind.value
        return f"{operation} {subject}" if subject else operation

    def _finish_reasons(self, record: Record, put: _Put) -> list[str]:
        # A multi-choice list decoded from OTLP sits in extra; it still holds while its first entry
        # agrees with stop_reason, and is then re-emitted from extra as it came.
        kept = record.extra.get(v.EXTRA_ATTR + self.semconv.attrs.response_finish_reasons)
        if (
            isinstance(kept, list)
            and all(isinstance(r, str) for r in kept)
            and (kept[0] if kept else "") == record.stop_reason
        ):
            reasons = [_finish_reason(r) for r in kept]
            if reasons != kept:
                put(self.semconv.attrs.response_finish_reasons, reasons)
            return reasons
        if not record.stop_reason:
            return []
        reasons = [_finish_reason(record.stop_reason)]
        put(self.semconv.attrs.response_finish_reasons, reasons)
        return reasons

    def _ttfc(self, record: Record, put: _Put) -> None:
        ms = record.ttft_ms
        if ms is None or not math.isfinite(ms) or ms < 0:
            return  # no meaningful seconds value to report
        name = self.semconv.attrs.response_time_to_first_chunk
        kept = record.extra.get(v.EXTRA_ATTR + name)
        if isinstance(kept, float) and kept * 1000.0 == ms:
            return  # the exact double decoded from OTLP is re-emitted from extra
        put(name, ms / 1000.0)

    def _content(self, record: Record, put: _Put, finish_reasons: list[str]) -> None:
        a = self.semconv.attrs
        if record.system_prompt:
            put(a.system_instructions, content.system_instructions_to_json(record.system_prompt))
        if record.input:
            put(
                a.input_messages,
                content.messages_to_json(record.input, output=False, finish_reasons=(), fallback_finish=""),
            )
        if record.output:
            # An unknown reason is left out rather than invented (a made-up "stop" used to hide a
            # real tool call from backends that read the messages).
            fallback = _finish_reason(record.stop_reason)
            put(
                a.output_messages,
                content.messages_to_json(
                    record.output, output=True, finish_reasons=finish_reasons, fallback_finish=fallback
                ),
            )
        if record.tools:
            put(a.tool_definitions, content.tool_definitions_to_json(record.tools))
        if record.tool_arguments_json:
            put(a.tool_call_arguments, record.tool_arguments_json.decode("utf-8", "replace"))
        if record.tool_result_json:
            put(a.tool_call_result, record.tool_result_json.decode("utf-8", "replace"))
        put(EXTENSIONS.conversation_title, record.conversation_title)
        if record.input_state is not None:
            put(EXTENSIONS.input_state, orjson.dumps(record.input_state).decode())
        if record.output_state is not None:
            put(EXTENSIONS.output_state, orjson.dumps(record.output_state).decode())

    def _status(self, span: Span, record: Record) -> None:
        # Always present, even when unset, as the OpenTelemetry SDKs and the Collector send it.
        span.status.SetInParent()
        if record.status is not RecordStatus.OK:
            span.status.code = Status.STATUS_CODE_ERROR
            span.status.message = record.error_message
        elif record.extra.get(v.EXTRA_STATUS_CODE) == Status.STATUS_CODE_OK:
            span.status.code = Status.STATUS_CODE_OK


def _put_extensions(
    record: Record, put: _Put, attrs: RepeatedCompositeFieldContainer[KeyValue], emitted: set[str]
) -> None:
    x, usage = EXTENSIONS, record.usage
    put(x.generation_id if record.kind is Kind.LLM else x.record_id, record.id)
    put(x.tool_choice, record.tool_choice)
    put(x.thinking_enabled, record.thinking_enabled)
    put(x.parent_generation_ids, record.parent_generation_ids)
    put(x.trace_name, record.trace_name)
    put(x.workflow_run_id, record.workflow_run_id)
    put(x.effective_version, record.effective_version)
    put(x.framework, record.framework)
    put(x.sdk_version, record.sdk_version)
    put(x.prompt_hash, record.prompt_hash)
    put(x.tools_used, record.tools_used)
    put(x.cost_usd, record.cost_usd)
    put(x.usage_total_tokens, usage.total_tokens)
    put(x.usage_image_count, usage.image_count)
    put(x.usage_web_search_count, usage.web_search_count)
    put(x.usage_request_count, usage.request_count)
    put(x.linked_generation_ids, record.linked_generation_ids)
    put(x.parent_step_ids, record.parent_step_ids)
    if record.customer is not None:
        put(x.customer_id, record.customer.id)
        put(x.customer_name, record.customer.name)
        put(x.customer_image_url, record.customer.image_url)
    # Not put(): an empty or null map value is still a value of the user's.
    for prefix, values in (
        (x.tag_prefix, record.tags),
        (x.metadata_prefix, record.metadata),
        (x.eval_score_prefix, {k: float(score) for k, score in record.eval_scores.items()}),
        (x.trace_metadata_prefix, record.trace_metadata),
    ):
        for key, value in values.items():
            v.add_attribute(attrs, prefix + key, value)
            emitted.add(prefix + key)


def _set_ids(span: Span, record: Record) -> None:
    trace_id = v.id_from_hex(record.trace_id, v.TRACE_ID_SIZE)
    if trace_id is None:
        trace_id = v.derive_id(b"trace", record.trace_id or _identity(record), v.TRACE_ID_SIZE)
    span.trace_id = trace_id
    span_id = v.id_from_hex(record.span_id, v.SPAN_ID_SIZE)
    if span_id is None:
        # Keyed by the trace id as sent, so a child's derived parent id equals its parent's id.
        key = f"{record.trace_id}\0{record.span_id}" if record.span_id else _identity(record)
        span_id = v.derive_id(b"span", key, v.SPAN_ID_SIZE)
    span.span_id = span_id
    if record.parent_span_id:
        parent = v.id_from_hex(record.parent_span_id, v.SPAN_ID_SIZE)
        span.parent_span_id = parent or v.derive_id(
            b"span", f"{record.trace_id}\0{record.parent_span_id}", v.SPAN_ID_SIZE
        )


def _identity(record: Record) -> str:
    if record.id:
        return "id\0" + record.id
    # No id at all: the fields a replay of the same record repeats.
    return "\0".join(
        str(part)
        for part in (
            record.trace_id,
            record.start_ns,
            record.end_ns,
            record.operation,
            record.model,
            record.tool_name,
            record.name,
        )
    )


def _span_details(span: Span, extra: dict[str, Any]) -> None:
    trace_state = extra.get(v.EXTRA_TRACE_STATE)
    if isinstance(trace_state, str):
        span.trace_state = trace_state
    flags = extra.get(v.EXTRA_FLAGS)
    if isinstance(flags, int) and 0 <= flags < 2**32:
        span.flags = flags
    dropped = _dict(extra.get(v.EXTRA_DROPPED))
    span.dropped_attributes_count = _uint(dropped.get("attributes")) & 0xFFFFFFFF
    span.dropped_events_count = _uint(dropped.get("events")) & 0xFFFFFFFF
    span.dropped_links_count = _uint(dropped.get("links")) & 0xFFFFFFFF
    for item in _dicts(extra.get(v.EXTRA_EVENTS)):
        event = span.events.add(name=_str(item.get("name")), time_unix_nano=_uint(item.get("time_unix_nano")))
        for key, value in _dict(item.get("attributes")).items():
            v.add_attribute(event.attributes, key, value)
    for item in _dicts(extra.get(v.EXTRA_LINKS)):
        link = span.links.add(trace_state=_str(item.get("trace_state")), flags=_uint(item.get("flags")) & 0xFFFFFFFF)
        link.trace_id = v.id_from_hex(_str(item.get("trace_id")), v.TRACE_ID_SIZE) or b""
        link.span_id = v.id_from_hex(_str(item.get("span_id")), v.SPAN_ID_SIZE) or b""
        for key, value in _dict(item.get("attributes")).items():
            v.add_attribute(link.attributes, key, value)


def _times(start_ns: int | None, end_ns: int | None) -> tuple[int, int]:
    """fixed64 start and end: a missing (or non-positive) end is the start and vice versa, times
    past 2**64 are clamped, and the end is never before the start, so what is read back (where 0
    means unknown) gives the same span again."""
    start = start_ns if start_ns is not None and start_ns > 0 else None
    end = end_ns if end_ns is not None and end_ns > 0 else None
    start_out = min(start or end or 0, 2**64 - 1)
    end_out = min(end or start or 0, 2**64 - 1)
    return start_out, max(start_out, end_out)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _uint(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**64 else 0


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _finish_reason(reason: str) -> str:
    """A provider's finish reason as the conventions spell it (``end_turn`` -> ``stop``)."""
    return FINISH_REASON_ALIASES.get(reason, reason)


_INT_ATTRIBUTES = ("request_top_k", "request_seed", "request_choice_count", "request_max_tokens")
_LIST_ATTRIBUTES = ("response_finish_reasons", "request_stop_sequences", "request_encoding_formats")


def _typed(attr: str, value: Any, semconv: SemConv) -> Any:
    """A kept attribute in the type the conventions give it: integers for ``top_k`` and friends
    (a source may send 40.0 or "40"), string arrays for the list attributes (one string, or a
    JSON array in a string, becomes a list)."""
    a = semconv.attrs
    if attr in {getattr(a, name) for name in _INT_ATTRIBUTES}:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
    elif attr in {getattr(a, name) for name in _LIST_ATTRIBUTES} and isinstance(value, str):
        if value.startswith("["):
            try:
                parsed = orjson.loads(value)
            except orjson.JSONDecodeError:
                return value
            if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
                return parsed
            return value
        return [value]
    return value
