"""OTLP spans -> records (the receiving direction).

A span is a GenAI span when any attribute starts with ``gen_ai.`` (current, deprecated and Sigil
names all do), carries one of the gateway's record markers, or is an OpenInference span
(``openinference.span.kind``, read first by :mod:`.decode_openinference`). Attribute names are looked up in
the receiver index of :mod:`.semconv` (current names of every version plus the aliases); a name
that maps to a record field fills the field, anything else is kept in ``Record.extra`` under
``otlp.attr.<current name>``. A value of the wrong type for its field is kept in ``extra`` rather
than dropped.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from gateway.formats.otlp import content, decode_legacy, decode_openinference
from gateway.formats.otlp import values as v
from gateway.formats.otlp.openinference import SPAN_KIND as OI_SPAN_KIND
from gateway.formats.otlp.semconv import (
    AMBIGUOUS_CACHE_ALIASES,
    DEFAULT,
    EXTENSION_ALIASES,
    EXTENSIONS,
    OUTPUT_TYPE_ALIASES,
    SemConv,
    normalize_operation,
    normalize_provider,
    receiver_attribute_index,
)
from gateway.model import Customer, Kind, Record
from gateway.model import Status as RecordStatus

# Spans the gateway emitted for records that have no gen_ai.* attribute still carry one of these.
_RECORD_MARKERS = frozenset({EXTENSIONS.record_kind, EXTENSIONS.record_id, EXTENSIONS.generation_id})
ANTHROPIC_STOP_REASON = "anthropic.message.stop_reason"  # the anthropic SDK's own tracing
_EXCEPTION_EVENT = "exception"  # the OpenTelemetry span event of a recorded exception
_ENVIRONMENT = "\0environment"  # carries the resource's environment to the record, never kept

# error.type values that say more than "error" about the outcome.
ERROR_TYPE_STATUS = {
    "timeout": RecordStatus.TIMEOUT,
    "rate_limit": RecordStatus.RATE_LIMITED,
    "rate_limited": RecordStatus.RATE_LIMITED,
    "rate_limit_error": RecordStatus.RATE_LIMITED,  # Anthropic's error type, as OpenLLMetry sends it
    "429": RecordStatus.RATE_LIMITED,
    "RateLimitError": RecordStatus.RATE_LIMITED,  # the openai and anthropic SDKs' exception class
    "APITimeoutError": RecordStatus.TIMEOUT,
    "cancelled": RecordStatus.ABORTED,
    "aborted": RecordStatus.ABORTED,
}


@dataclass(slots=True)
class _State:
    """What one span's attributes say beyond single record fields, resolved after the loop."""

    canonical_seen: set[str] = field(default_factory=set)
    ids: dict[str, str] = field(default_factory=dict)
    ambiguous_cache: bool = False
    original_operation: str | None = None
    record_name: str | None = None
    customer: dict[str, str] = field(default_factory=dict)
    kind: Kind | None = None
    message_finish_reasons: list[str] = field(default_factory=list)  # inside gen_ai.output.messages
    vendor_stop_reason: str = ""  # a provider SDK's own stop-reason attribute


# A handler stores a value in the record and says whether it could (False: keep it in extra).
_Handler = Callable[[Record, Any, _State], bool]


def traces_to_records(
    request: ExportTraceServiceRequest, semconv: SemConv = DEFAULT, *, passthrough: bool = False
) -> tuple[list[Record], int]:
    """The GenAI spans as records, and how many other spans the request held.

    With ``passthrough`` the other spans are records too (and still counted): kind
    :attr:`Kind.OTHER`, ``extra["otlp.passthrough"] = True``, and everything the span carries kept
    so that the encoder gives the same span back. The format declares them its own (see
    :func:`is_passthrough`), so exporters of other formats never see them."""
    reader = _reader(semconv)
    records: list[Record] = []
    rest_count = 0
    for rs in request.resource_spans:
        base = _resource_extra(rs, reader)
        for ss in rs.scope_spans:
            scope_base = dict(base)
            _scope_extra(ss, scope_base)
            for span in ss.spans:
                if any(
                    kv.key.startswith("gen_ai.") or kv.key in _RECORD_MARKERS or kv.key == OI_SPAN_KIND
                    for kv in span.attributes
                ):
                    records.append(reader.record(span, scope_base))
                    continue
                rest_count += 1
                if passthrough:
                    record = reader.record(span, scope_base, genai=False)
                    record.kind = Kind.OTHER
                    record.extra[v.EXTRA_PASSTHROUGH] = True
                    records.append(record)
    return records, rest_count


def is_passthrough(record: Record) -> bool:
    """A non-GenAI span carried for OTLP exporters only (see :func:`traces_to_records`)."""
    return record.extra.get(v.EXTRA_PASSTHROUGH) is True


def _resource_extra(rs: ResourceSpans, reader: _Reader) -> dict[str, Any]:
    base: dict[str, Any] = {}
    env_names = reader.environment_names
    for kv in rs.resource.attributes:
        if kv.key in env_names and kv.value.HasField("string_value"):
            # Record.environment; the current name wins over the pre-1.27 one.
            if kv.key == reader.semconv.attrs.deployment_environment or _ENVIRONMENT not in base:
                base[_ENVIRONMENT] = kv.value.string_value
            continue
        base[v.EXTRA_RESOURCE + kv.key] = v.to_python(kv.value)
    if rs.schema_url:
        base[v.EXTRA_RESOURCE_SCHEMA_URL] = rs.schema_url
    return base


def _scope_extra(ss: ScopeSpans, base: dict[str, Any]) -> None:
    if ss.scope.name:
        base[v.EXTRA_SCOPE_NAME] = ss.scope.name
    if ss.scope.version:
        base[v.EXTRA_SCOPE_VERSION] = ss.scope.version
    if ss.schema_url:
        base[v.EXTRA_SCOPE_SCHEMA_URL] = ss.schema_url


@functools.lru_cache(maxsize=8)
def _reader(semconv: SemConv) -> _Reader:
    return _Reader(semconv)


class _Reader:
    """Attribute dispatch tables for one convention version, built once."""

    def __init__(self, semconv: SemConv) -> None:
        self.semconv = semconv
        self.index = receiver_attribute_index(semconv)
        self.canonical = {logical: getattr(semconv.attrs, logical) for logical in set(self.index.values())}
        self.environment_names = {k for k, logical in self.index.items() if logical == "deployment_environment"}
        self.fields = _field_handlers()
        self.extensions = _extension_handlers()
        self.kinds = v.operation_kinds(semconv)

    def record(self, span: Span, base: dict[str, Any], *, genai: bool = True) -> Record:
        record = Record(
            name=span.name,
            trace_id=span.trace_id.hex(),
            span_id=span.span_id.hex(),
            parent_span_id=span.parent_span_id.hex(),
            start_ns=span.start_time_unix_nano or None,
            end_ns=span.end_time_unix_nano or None,
        )
        extra = record.extra
        extra.update(base)
        if _ENVIRONMENT in extra:
            record.environment = extra.pop(_ENVIRONMENT)
        state = _State()
        attributes = [(kv.key, v.to_python(kv.value)) for kv in span.attributes]
        if any(key == OI_SPAN_KIND for key, _ in attributes):
            state.kind, attributes = decode_openinference.read(record, attributes)
        legacy = [(key, value) for key, value in attributes if decode_legacy.is_legacy(key)]
        if legacy:
            attributes = [(key, value) for key, value in attributes if not decode_legacy.is_legacy(key)]
        for key, value in attributes:
            self._attribute(record, key, value, state)
        if legacy:
            decode_legacy.read(record, legacy)  # after the current names, which win
        self._resolve(record, state)
        self._span_details(record, span, genai)
        return record

    def _attribute(self, record: Record, key: str, value: Any, state: _State) -> None:
        extra = record.extra
        logical = self.index.get(key)
        if logical is not None:
            name = self.canonical[logical]
            if key != name:
                if logical in state.canonical_seen:
                    return  # a deprecated duplicate of a current attribute already read
                if key == "gen_ai.system" and isinstance(value, str):
                    value = normalize_provider(value, self.semconv)  # the 1.37 value renames
                elif logical == "output_type" and isinstance(value, str):
                    value = OUTPUT_TYPE_ALIASES.get(value, value)
                if key in AMBIGUOUS_CACHE_ALIASES:
                    state.ambiguous_cache = True
            else:
                state.canonical_seen.add(logical)
            handler = self.fields.get(logical)
            if handler is None or not handler(record, value, state):
                extra[v.EXTRA_ATTR + name] = value
            return
        handler = self.extensions.get(key)
        if handler is not None and handler(record, value, state):
            return
        for prefix, attribute, accept, convert in _PREFIXES:
            if key.startswith(prefix) and accept(value):
                getattr(record, attribute)[key[len(prefix) :]] = convert(value)
                return
        extra[v.EXTRA_ATTR + key] = value

    def _resolve(self, record: Record, state: _State) -> None:
        operation = normalize_operation(record.operation, "", self.semconv)
        record.kind = state.kind or self.kinds.get(operation) or _infer_kind(record)
        if state.original_operation is not None:
            record.operation = state.original_operation
        if state.record_name is not None and state.record_name != record.name:
            record.extra[v.EXTRA_SPAN_NAME] = record.name
            record.name = state.record_name
        # The id attribute the emitter will not use again for this kind stays in extra.
        preferred = EXTENSIONS.generation_id if record.kind is Kind.LLM else EXTENSIONS.record_id
        for key, value in state.ids.items():
            if key != preferred:
                record.extra[v.EXTRA_ATTR + key] = value
        record.id = state.ids.get(preferred) or next(iter(state.ids.values()), "")
        if state.customer.get("id"):
            c = state.customer
            record.customer = Customer(id=c["id"], name=c.get("name"), image_url=c.get("image_url"))
        else:
            for key, value in state.customer.items():
                record.extra[v.EXTRA_ATTR + getattr(EXTENSIONS, "customer_" + key)] = value
        if not record.stop_reason and state.message_finish_reasons:
            # The reason is inside the output messages only (no gen_ai.response.finish_reasons).
            record.stop_reason = state.message_finish_reasons[0]
        if not record.stop_reason and state.vendor_stop_reason:
            record.stop_reason = state.vendor_stop_reason
        usage = record.usage
        if usage.input_tokens is not None:
            # OTLP input_tokens include the cache counts; Sigil's own names leave it open.
            usage.input_includes_cache = None if state.ambiguous_cache else True

    def _span_details(self, record: Record, span: Span, genai: bool) -> None:
        extra = record.extra
        extra[v.EXTRA_SPAN_KIND] = int(span.kind)
        if span.status.code == Status.STATUS_CODE_ERROR:
            if genai and not record.error_type:
                # OpenInference and others record the error only as an exception event (a
                # pass-through span is given back as it came, so it gains no error.type).
                _exception_event(record, span)
            record.status = ERROR_TYPE_STATUS.get(record.error_type.rsplit(".", 1)[-1], RecordStatus.ERROR)
            record.error_message = span.status.message or record.error_message
        elif span.status.code == Status.STATUS_CODE_OK:
            extra[v.EXTRA_STATUS_CODE] = int(span.status.code)
        if span.trace_state:
            extra[v.EXTRA_TRACE_STATE] = span.trace_state
        dropped = {
            name: count
            for name, count in (
                ("attributes", span.dropped_attributes_count),
                ("events", span.dropped_events_count),
                ("links", span.dropped_links_count),
            )
            if count
        }
        if dropped:
            extra[v.EXTRA_DROPPED] = dropped
        if span.flags:
            extra[v.EXTRA_FLAGS] = span.flags
        if span.events and genai:
            decode_legacy.events(record, [(e.name, v.attributes_to_dict(e.attributes)) for e in span.events])
        if span.events:
            extra[v.EXTRA_EVENTS] = [
                {
                    "name": e.name,
                    "time_unix_nano": e.time_unix_nano,
                    "attributes": v.attributes_to_dict(e.attributes),
                }
                for e in span.events
            ]
        if span.links:
            extra[v.EXTRA_LINKS] = [
                {
                    "trace_id": link.trace_id.hex(),
                    "span_id": link.span_id.hex(),
                    "trace_state": link.trace_state,
                    "flags": link.flags,
                    "attributes": v.attributes_to_dict(link.attributes),
                }
                for link in span.links
            ]


def _exception_event(record: Record, span: Span) -> None:
    for event in span.events:
        if event.name != _EXCEPTION_EVENT:
            continue
        attributes = v.attributes_to_dict(event.attributes)
        kind, message = attributes.get("exception.type"), attributes.get("exception.message")
        if isinstance(kind, str):
            record.error_type = kind
        if isinstance(message, str):
            record.error_message = message
        return


def _infer_kind(record: Record) -> Kind:
    if record.tool_name:
        return Kind.TOOL
    if record.model or record.response_model or record.provider or not record.usage.is_empty():
        return Kind.LLM
    return Kind.OTHER


# --- handlers -----------------------------------------------------------------------------------


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _same(value: Any) -> Any:
    return value


def _setter(
    name: str,
    accept: Callable[[Any], bool],
    convert: Callable[[Any], Any] = _same,
    *,
    on: Literal["record", "usage", "state"] = "record",
) -> _Handler:
    """A handler that stores an accepted value in a record, usage or state attribute."""

    def handler(record: Record, value: Any, state: _State) -> bool:
        if not accept(value):
            return False
        target = record if on == "record" else record.usage if on == "usage" else state
        setattr(target, name, convert(value))
        return True

    return handler


def _parsed(name: str, parse: Callable[[Any], Any]) -> _Handler:
    """A handler for content: a shape the parser rejects stays in extra as it came."""

    def handler(record: Record, value: Any, state: _State) -> bool:
        try:
            setattr(record, name, parse(value))
        except ValueError:
            return False
        return True

    return handler


def _collect(collection: Literal["ids", "customer"], key: str) -> _Handler:
    def handler(record: Record, value: Any, state: _State) -> bool:
        if not isinstance(value, str):
            return False
        getattr(state, collection)[key] = value
        return True

    return handler


def _json_bytes(value: Any) -> bytes:
    # A JSON string is kept byte for byte; structured values are serialised.
    return value.encode() if isinstance(value, str) else content.dumps(value)


def _finish_reasons(record: Record, value: Any, state: _State) -> bool:
    if isinstance(value, str):
        # logfire sends the list as a JSON string; one bare reason is read as a list of one.
        try:
            value = orjson.loads(value) if value.startswith("[") else [value]
        except orjson.JSONDecodeError:
            return False
    if not _is_str_list(value):
        return False
    record.stop_reason = value[0] if value else ""
    return len(value) == 1  # the full list stays in extra when stop_reason cannot hold it


def _output_messages(record: Record, value: Any, state: _State) -> bool:
    try:
        record.output, state.message_finish_reasons = content.parse_messages(value)
    except ValueError:
        return False
    return True


def _ttfc(record: Record, value: Any, state: _State) -> bool:
    if not _is_number(value):
        return False
    seconds = float(value)
    record.ttft_ms = seconds * 1000.0
    # When ms -> s does not give the same double back, extra keeps the exact value.
    return record.ttft_ms / 1000.0 == seconds


def _record_kind(record: Record, value: Any, state: _State) -> bool:
    try:
        state.kind = Kind(value)
    except ValueError:
        return False
    return True


def _workflow_state(value: Any) -> dict[str, Any]:
    try:
        data = orjson.loads(value) if isinstance(value, str) else value
    except orjson.JSONDecodeError:
        raise ValueError("not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def _field_handlers() -> dict[str, _Handler]:
    """Logical attribute key -> handler, for every attribute that has a record field."""
    s, i, f = _is_str, _is_int, _is_number
    return {
        "operation_name": _setter("operation", s),
        "provider_name": _setter("provider", s),
        "conversation_id": _setter("conversation_id", s),
        "agent_name": _setter("agent_name", s),
        "agent_version": _setter("agent_version", s),
        "workflow_name": _setter("workflow_name", s),
        "request_model": _setter("model", s),
        "request_max_tokens": _setter("max_tokens", i),
        "request_temperature": _setter("temperature", f, float),
        "request_top_p": _setter("top_p", f, float),
        "request_stream": _setter("stream", _is_bool),
        "response_id": _setter("response_id", s),
        "response_model": _setter("response_model", s),
        "response_finish_reasons": _finish_reasons,
        "response_time_to_first_chunk": _ttfc,
        "usage_input_tokens": _setter("input_tokens", i, on="usage"),
        "usage_output_tokens": _setter("output_tokens", i, on="usage"),
        "usage_cache_read_input_tokens": _setter("cache_read_input_tokens", i, on="usage"),
        "usage_cache_creation_input_tokens": _setter("cache_write_input_tokens", i, on="usage"),
        "usage_reasoning_output_tokens": _setter("reasoning_tokens", i, on="usage"),
        "tool_name": _setter("tool_name", s),
        "tool_call_id": _setter("tool_call_id", s),
        "tool_type": _setter("tool_type", s),
        "tool_description": _setter("tool_description", s),
        "tool_call_arguments": _setter("tool_arguments_json", lambda _: True, _json_bytes),
        "tool_call_result": _setter("tool_result_json", lambda _: True, _json_bytes),
        # Per-message finish reasons repeat gen_ai.response.finish_reasons, which is kept.
        "input_messages": _parsed("input", lambda value: content.parse_messages(value)[0]),
        "output_messages": _output_messages,
        "system_instructions": _parsed("system_prompt", content.parse_system_instructions),
        "tool_definitions": _parsed("tools", content.parse_tool_definitions),
        "error_type": _setter("error_type", s),
        "user_id": _setter("user_id", s),
        "session_id": _setter("session_id", s),
    }


def _extension_handlers() -> dict[str, _Handler]:
    handlers = _own_extension_handlers()
    for alias, logical in EXTENSION_ALIASES.items():
        handlers[alias] = handlers[getattr(EXTENSIONS, logical)]
    handlers[ANTHROPIC_STOP_REASON] = _vendor_stop_reason
    return handlers


def _vendor_stop_reason(record: Record, value: Any, state: _State) -> bool:
    """The anthropic SDK's own ``anthropic.message.stop_reason``: the stop reason when the
    conventions' finish reasons are absent (they win, whatever the order); kept in extra too."""
    if isinstance(value, str) and value:
        state.vendor_stop_reason = value
    return False


def _own_extension_handlers() -> dict[str, _Handler]:
    x, s, i, lst = EXTENSIONS, _is_str, _is_int, _is_str_list
    return {
        x.generation_id: _collect("ids", x.generation_id),
        x.record_id: _collect("ids", x.record_id),
        x.conversation_title: _setter("conversation_title", s),
        x.tool_choice: _setter("tool_choice", s),
        x.thinking_enabled: _setter("thinking_enabled", _is_bool),
        x.parent_generation_ids: _setter("parent_generation_ids", lst, list),
        x.original_operation: _setter("original_operation", s, on="state"),
        x.record_name: _setter("record_name", s, on="state"),
        x.record_kind: _record_kind,
        x.trace_name: _setter("trace_name", s),
        x.workflow_run_id: _setter("workflow_run_id", s),
        x.effective_version: _setter("effective_version", s),
        x.framework: _setter("framework", s),
        x.sdk_version: _setter("sdk_version", s),
        x.prompt_hash: _setter("prompt_hash", s),
        x.tools_used: _setter("tools_used", lst, list),
        x.cost_usd: _setter("cost_usd", _is_number, float),
        x.usage_total_tokens: _setter("total_tokens", i, on="usage"),
        x.usage_image_count: _setter("image_count", i, on="usage"),
        x.usage_web_search_count: _setter("web_search_count", i, on="usage"),
        x.usage_request_count: _setter("request_count", i, on="usage"),
        x.linked_generation_ids: _setter("linked_generation_ids", lst, list),
        x.parent_step_ids: _setter("parent_step_ids", lst, list),
        x.input_state: _parsed("input_state", _workflow_state),
        x.output_state: _parsed("output_state", _workflow_state),
        x.customer_id: _collect("customer", "id"),
        x.customer_name: _collect("customer", "name"),
        x.customer_image_url: _collect("customer", "image_url"),
    }


# (record map attribute, accept, convert) for the prefixed extension names.
_PREFIXES: list[tuple[str, str, Callable[[Any], bool], Callable[[Any], Any]]] = [
    (EXTENSIONS.tag_prefix, "tags", _is_str, _same),
    (EXTENSIONS.metadata_prefix, "metadata", lambda _: True, _same),
    (EXTENSIONS.eval_score_prefix, "eval_scores", _is_number, float),
    (EXTENSIONS.trace_metadata_prefix, "trace_metadata", _is_str, _same),
]
