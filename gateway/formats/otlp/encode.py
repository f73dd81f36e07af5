"""Records -> OTLP traces (the sending direction), following the GenAI semantic conventions (v1.41.1 by default).

Pure translation: no sockets. ``docs/mapping.md`` has the attribute-by-attribute table.

Writing: one writer, :func:`records_to_traces_bytes`, frames the serialized request by hand
(:mod:`.frame`, the bytes ``SerializeToString`` gives) instead of building protobuf messages,
which cost a runtime call per field and per attribute; an attribute that repeats across records
(operation, provider, model, tags) is encoded once (:class:`.frame.AttributeCache`).
:func:`records_to_traces` parses those bytes for callers that want the message (OTLP/JSON).

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
  the attribute (the field is the newer truth: a processor may have changed it):
  :mod:`.encode_kept`.

* A pass-through record (``extra["otlp.passthrough"]``, see :func:`traces_to_records`) is
  emitted as the span it came from: no ``gateway.record.kind`` and no ``error.type`` fallback.

"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from gateway import formats
from gateway.formats.otlp import content, encode_openinference, frame
from gateway.formats.otlp import values as v
from gateway.formats.otlp.aliases import FINISH_REASON_ALIASES
from gateway.formats.otlp.decode import is_passthrough
from gateway.formats.otlp.encode_kept import KeptAttributes
from gateway.formats.otlp.semconv import (
    DEFAULT,
    EXTENSIONS,
    SemConv,
    normalize_operation,
    normalize_provider,
)
from gateway.model import Kind, Record
from gateway.model import Status as RecordStatus

DEFAULT_SERVICE_NAME = "llm-telemetry-gateway"
DEFAULT_SCOPE_NAME = "llm-telemetry-gateway"

_Pairs = list[tuple[str, Any]]  # attributes in emission order

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
    :data:`OPENINFERENCE` (:mod:`.encode_openinference`).

    The message parsed from :func:`records_to_traces_bytes` (the one writer)."""
    return ExportTraceServiceRequest.FromString(
        records_to_traces_bytes(
            records,
            resource_attributes=resource_attributes,
            include_content=include_content,
            semconv=semconv,
            emit_deprecated=emit_deprecated,
            conventions=conventions,
        )
    )


def records_to_traces_bytes(
    records: Iterable[Record],
    *,
    resource_attributes: Mapping[str, str],
    include_content: bool,
    semconv: SemConv = DEFAULT,
    emit_deprecated: bool = False,
    conventions: Iterable[str] = (GEN_AI,),
) -> bytes:
    """The serialized ``ExportTraceServiceRequest`` of :func:`records_to_traces`, framed by hand
    (:mod:`.frame`) without building the message: what the protobuf exporters send."""
    conventions = frozenset(conventions)
    writer = _writer(semconv)
    mode_key = formats.capture_mode_key()  # once per request, not per span
    defaults: dict[str, Any] = {semconv.attrs.service_name: DEFAULT_SERVICE_NAME, **resource_attributes}
    default_scope = (DEFAULT_SCOPE_NAME, "", semconv.schema_url)
    # Resource -> (its attributes, schema URL, scope -> spans), in first-seen order.
    groups: dict[str, tuple[bytes, str, dict[tuple[str, str, str], list[bytes]]]] = {}
    # (environment, schema URL) -> group key, for records without resource attributes of their
    # own: the sorted repr is made once per resource, not per record.
    plain_keys: dict[tuple[str, str], str] = {}
    for record in records:
        extra = record.extra
        own = [(key, value) for key, value in extra.items() if key.startswith(v.EXTRA_RESOURCE)] if extra else []
        resource_schema = _str(extra.get(v.EXTRA_RESOURCE_SCHEMA_URL)) if extra else ""
        group_key = None if own else plain_keys.get((record.environment, resource_schema))
        if group_key is None:
            resource = dict(defaults)
            for key, value in own:
                resource[key[len(v.EXTRA_RESOURCE) :]] = value
            if record.environment:
                resource[semconv.attrs.deployment_environment] = record.environment
            group_key = repr((sorted(resource.items()), resource_schema))
            if not own:
                plain_keys[(record.environment, resource_schema)] = group_key
            if group_key not in groups:
                groups[group_key] = (frame.resource(resource.items()), resource_schema, {})
        scopes = groups[group_key][2]
        if extra:
            scope_name = _str(extra.get(v.EXTRA_SCOPE_NAME)) or DEFAULT_SCOPE_NAME
            default_url = semconv.schema_url if scope_name == DEFAULT_SCOPE_NAME else ""
            scope_key = (
                scope_name,
                _str(extra.get(v.EXTRA_SCOPE_VERSION)),
                _str(extra.get(v.EXTRA_SCOPE_SCHEMA_URL, default_url)),
            )
        else:
            scope_key = default_scope
        spans = scopes.get(scope_key)
        if spans is None:
            spans = scopes[scope_key] = []
        with_content = include_content and record.metadata.get(mode_key) != "metadata_only"
        spans.append(writer.span(record, with_content, emit_deprecated, conventions))
    out: frame.Pieces = []
    for resource_body, schema_url, scopes in groups.values():
        out += frame.resource_spans(
            resource_body, schema_url, [frame.scope_spans(*key, spans) for key, spans in scopes.items()]
        )
    return b"".join(out)


# --- record -> span -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _writer(semconv: SemConv) -> _Writer:
    return _Writer(semconv)


class _Writer:
    """Emits spans for one convention version; per-version tables are built once, and
    attributes that repeat across records are encoded once (:class:`.frame.AttributeCache`)."""

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
        # The kind each well-known operation implies on the way back in (_otlp_receive).
        self.operation_kinds = v.operation_kinds(semconv)
        self.kept = KeptAttributes(semconv)
        self.cache = frame.AttributeCache()

    def span(
        self,
        record: Record,
        include_content: bool,
        emit_deprecated: bool = False,
        conventions: frozenset[str] = frozenset({"gen_ai"}),
    ) -> bytes:
        """One serialized span for ``record``."""
        extra = record.extra
        passthrough = is_passthrough(record)
        operation = normalize_operation(record.operation, self.kind_operations.get(record.kind, ""), self.semconv)
        name = self._name(operation, record)
        original_kind = extra.get(v.EXTRA_SPAN_KIND)
        if isinstance(original_kind, int) and not isinstance(original_kind, bool):
            kind = original_kind
            # A relayed GenAI span is named as the conventions say ({operation} {model}); its own
            # name travels as gateway.record.name. A pass-through span keeps its name.
            if passthrough or record.kind is Kind.OTHER:
                name = _str(extra.get(v.EXTRA_SPAN_NAME)) or record.name or name
        else:
            kind = _SPAN_KINDS[record.kind]
        fields, finish_reasons = self._fields(record, operation, name, passthrough)
        segments: list[frame.Segment] = [(fields, True), (self._extensions(record), False)]
        if include_content:
            segments.append((self._content(record, finish_reasons), True))
        oi, gen_ai = OPENINFERENCE in conventions and not passthrough, GEN_AI in conventions or passthrough
        if extra or oi or not gen_ai:
            # Rules that look at what was already emitted: on one flat list.
            pairs = frame.present(segments)
            if extra:
                self.kept.extend(record, pairs, include_content, emit_deprecated)
            if oi:
                present = {key for key, _ in pairs}
                pairs.extend(
                    [
                        pair
                        for pair in encode_openinference.attributes(record, include_content)
                        if pair[0] not in present
                    ]
                )
            if not gen_ai:
                pairs = [pair for pair in pairs if not pair[0].startswith(_GEN_AI_PREFIX)]
            segments = [(pairs, False)]
        trace_id, span_id, parent_span_id = _ids(record)
        start, end = _times(record.start_ns, record.end_ns)
        if record.status is not RecordStatus.OK:
            status_code, status_message = Status.STATUS_CODE_ERROR, record.error_message
        elif extra.get(v.EXTRA_STATUS_CODE) == Status.STATUS_CODE_OK:
            status_code, status_message = Status.STATUS_CODE_OK, ""
        else:
            status_code, status_message = Status.STATUS_CODE_UNSET, ""
        dropped = _dict(extra.get(v.EXTRA_DROPPED)) if extra else {}
        flags = extra.get(v.EXTRA_FLAGS)
        trace_state = extra.get(v.EXTRA_TRACE_STATE)
        return frame.span(
            trace_id=trace_id,
            span_id=span_id,
            trace_state=trace_state if isinstance(trace_state, str) else "",
            parent_span_id=parent_span_id,
            name=name,
            kind=kind,
            start=start,
            end=end,
            attributes=self.cache.span_attributes(segments),
            dropped=(
                _uint(dropped.get("attributes")) & 0xFFFFFFFF,
                _uint(dropped.get("events")) & 0xFFFFFFFF,
                _uint(dropped.get("links")) & 0xFFFFFFFF,
            ),
            events=_events(extra.get(v.EXTRA_EVENTS)) if extra else [],
            links=_links(extra.get(v.EXTRA_LINKS)) if extra else [],
            status_code=status_code,
            status_message=status_message,
            flags=flags if isinstance(flags, int) and 0 <= flags < 2**32 else 0,
        )

    def _fields(self, record: Record, operation: str, span_name: str, passthrough: bool) -> tuple[_Pairs, list[str]]:
        """The attributes of record fields (conventions first, then the extensions), to be emitted
        unless empty, and the finish reasons. A pass-through span gets nothing the conventions
        would add to a GenAI span."""
        sc, a, x, usage, customer = self.semconv, self.semconv.attrs, EXTENSIONS, record.usage, record.customer
        reasons, emitted_reasons = self._finish_reasons(record)
        fields = [
            (a.operation_name, operation),
            (x.original_operation, record.operation if record.operation != operation else None),
            (x.record_name, record.name if span_name != record.name else None),
            (
                x.record_kind,
                record.kind.value
                if not passthrough and self.operation_kinds.get(operation) is not record.kind
                else None,
            ),
            (a.provider_name, normalize_provider(record.provider, sc) if record.provider else None),
            (a.request_model, record.model),
            (a.conversation_id, record.conversation_id),
            (a.agent_name, record.agent_name),
            (a.agent_version, record.agent_version),
            (a.workflow_name, record.workflow_name),
            (a.request_max_tokens, record.max_tokens),
            (a.request_temperature, record.temperature),
            (a.request_top_p, record.top_p),
            (a.request_stream, True if record.stream else None),  # set only when streaming
            (a.response_id, record.response_id),
            (a.response_model, record.response_model),
            (a.response_finish_reasons, emitted_reasons),
            (a.response_time_to_first_chunk, self._ttfc(record)),
            (a.usage_input_tokens, v.inclusive_input_tokens(usage, record.provider)),
            (a.usage_output_tokens, usage.output_tokens),
            (a.usage_cache_read_input_tokens, usage.cache_read_input_tokens),
            (a.usage_cache_creation_input_tokens, usage.cache_write_input_tokens),
            (a.usage_reasoning_output_tokens, usage.reasoning_tokens),
            (a.tool_name, record.tool_name),
            (a.tool_call_id, record.tool_call_id),
            (a.tool_type, record.tool_type),
            (a.tool_description, record.tool_description),
            (a.error_type, record.error_type if passthrough else v.error_type(record, sc.error_type_other)),
            (a.user_id, record.user_id),
            (a.session_id, record.session_id),
            (x.generation_id if record.kind is Kind.LLM else x.record_id, record.id),
            (x.tool_choice, record.tool_choice),
            (x.thinking_enabled, record.thinking_enabled),
            (x.parent_generation_ids, record.parent_generation_ids),
            (x.trace_name, record.trace_name),
            (x.workflow_run_id, record.workflow_run_id),
            (x.effective_version, record.effective_version),
            (x.framework, record.framework),
            (x.sdk_version, record.sdk_version),
            (x.prompt_hash, record.prompt_hash),
            (x.tools_used, record.tools_used),
            (x.cost_usd, record.cost_usd),
            (x.usage_total_tokens, usage.total_tokens),
            (x.usage_image_count, usage.image_count),
            (x.usage_web_search_count, usage.web_search_count),
            (x.usage_request_count, usage.request_count),
            (x.linked_generation_ids, record.linked_generation_ids),
            (x.parent_step_ids, record.parent_step_ids),
        ]
        if customer is not None:
            fields += [
                (x.customer_id, customer.id),
                (x.customer_name, customer.name),
                (x.customer_image_url, customer.image_url),
            ]
        return fields, reasons

    def _extensions(self, record: Record) -> _Pairs:
        """Tags, metadata, eval scores and trace metadata under their prefixes; an empty or null
        map value is still a value of the user's."""
        x = EXTENSIONS
        pairs: _Pairs = [(x.tag_prefix + key, value) for key, value in record.tags.items()] if record.tags else []
        if record.metadata:
            pairs += [(x.metadata_prefix + key, value) for key, value in record.metadata.items()]
        if record.eval_scores:
            pairs += [(x.eval_score_prefix + key, float(score)) for key, score in record.eval_scores.items()]
        if record.trace_metadata:
            pairs += [(x.trace_metadata_prefix + key, value) for key, value in record.trace_metadata.items()]
        return pairs

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

    def _finish_reasons(self, record: Record) -> tuple[list[str], list[str] | None]:
        """The finish reasons, and the attribute value to emit for them (None: none to emit)."""
        # A multi-choice list decoded from OTLP sits in extra; it still holds while its first entry
        # agrees with stop_reason, and is then re-emitted from extra as it came.
        kept = record.extra.get(v.EXTRA_ATTR + self.semconv.attrs.response_finish_reasons) if record.extra else None
        if (
            isinstance(kept, list)
            and all(isinstance(r, str) for r in kept)
            and (kept[0] if kept else "") == record.stop_reason
        ):
            reasons = [_finish_reason(r) for r in kept]
            return reasons, (reasons if reasons != kept else None)
        if not record.stop_reason:
            return [], None
        reasons = [_finish_reason(record.stop_reason)]
        return reasons, reasons

    def _ttfc(self, record: Record) -> float | None:
        ms = record.ttft_ms
        if ms is None or not math.isfinite(ms) or ms < 0:
            return None  # no meaningful seconds value to report
        kept = record.extra.get(v.EXTRA_ATTR + self.semconv.attrs.response_time_to_first_chunk)
        if isinstance(kept, float) and kept * 1000.0 == ms:
            return None  # the exact double decoded from OTLP is re-emitted from extra
        return ms / 1000.0

    def _content(self, record: Record, finish_reasons: list[str]) -> _Pairs:
        """The content attributes, to be emitted unless empty."""
        a = self.semconv.attrs
        return [
            (
                a.system_instructions,
                content.system_instructions_to_json(record.system_prompt) if record.system_prompt else None,
            ),
            (
                a.input_messages,
                content.messages_to_json(record.input, output=False, finish_reasons=(), fallback_finish="")
                if record.input
                else None,
            ),
            # An unknown reason is left out rather than invented (a made-up "stop" used to hide a
            # real tool call from backends that read the messages).
            (
                a.output_messages,
                content.messages_to_json(
                    record.output,
                    output=True,
                    finish_reasons=finish_reasons,
                    fallback_finish=_finish_reason(record.stop_reason),
                )
                if record.output
                else None,
            ),
            (a.tool_definitions, content.tool_definitions_to_json(record.tools) if record.tools else None),
            (a.tool_call_arguments, record.tool_arguments_json.decode("utf-8", "replace")),
            (a.tool_call_result, record.tool_result_json.decode("utf-8", "replace")),
            (EXTENSIONS.conversation_title, record.conversation_title),
            (
                EXTENSIONS.input_state,
                orjson.dumps(record.input_state).decode() if record.input_state is not None else None,
            ),
            (
                EXTENSIONS.output_state,
                orjson.dumps(record.output_state).decode() if record.output_state is not None else None,
            ),
        ]


def _ids(record: Record) -> tuple[bytes, bytes, bytes]:
    """Trace, span and parent span ids (the parent b"" when there is none)."""
    trace_id = v.id_from_hex(record.trace_id, v.TRACE_ID_SIZE)
    if trace_id is None:
        trace_id = v.derive_id(b"trace", record.trace_id or _identity(record), v.TRACE_ID_SIZE)
    span_id = v.id_from_hex(record.span_id, v.SPAN_ID_SIZE)
    if span_id is None:
        # Keyed by the trace id as sent, so a child's derived parent id equals its parent's id.
        key = f"{record.trace_id}\0{record.span_id}" if record.span_id else _identity(record)
        span_id = v.derive_id(b"span", key, v.SPAN_ID_SIZE)
    parent = b""
    if record.parent_span_id:
        parent = v.id_from_hex(record.parent_span_id, v.SPAN_ID_SIZE) or v.derive_id(
            b"span", f"{record.trace_id}\0{record.parent_span_id}", v.SPAN_ID_SIZE
        )
    return trace_id, span_id, parent


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


def _events(value: Any) -> list[bytes]:
    return [
        frame.event(_str(item.get("name")), _uint(item.get("time_unix_nano")), _dict(item.get("attributes")).items())
        for item in _dicts(value)
    ]


def _links(value: Any) -> list[bytes]:
    return [
        frame.link(
            v.id_from_hex(_str(item.get("trace_id")), v.TRACE_ID_SIZE) or b"",
            v.id_from_hex(_str(item.get("span_id")), v.SPAN_ID_SIZE) or b"",
            _str(item.get("trace_state")),
            _uint(item.get("flags")) & 0xFFFFFFFF,
            _dict(item.get("attributes")).items(),
        )
        for item in _dicts(value)
    ]


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
