"""OTLP spans -> records (the receiving direction).

A span is a GenAI span when any attribute starts with ``gen_ai.`` (current, deprecated and Sigil
names all do), carries one of the gateway's record markers, or is an OpenInference span
(``openinference.span.kind``, read first by :mod:`.decode_openinference`). Attribute names are looked up in
the receiver index of :mod:`.semconv` (current names of every version plus the aliases); a name
that maps to a record field fills the field, anything else is kept in ``Record.extra`` under
``otlp.attr.<current name>``. A value of the wrong type for its field is kept in ``extra`` rather
than dropped.

Cost (a span's attributes are its bulk): each name maps to an :class:`_Action` worked out once
(the legacy check, the index and handler lookups, the prefixes), for the tables' names when the
reader is built and for other names on first sight, so that an attribute costs one dict lookup;
plain field setters are data applied inline; the AnyValue is read by the field the name's last
value came in. ``python -m bench.otlp_decode`` times it per span.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from gateway.formats.otlp import decode_legacy, decode_openinference
from gateway.formats.otlp import values as v
from gateway.formats.otlp.aliases import AMBIGUOUS_CACHE_ALIASES, OUTPUT_TYPE_ALIASES
from gateway.formats.otlp.decode_attributes import (
    PREFIXES,
    Handler,
    Setter,
    State,
    extension_handlers,
    field_handlers,
)
from gateway.formats.otlp.openinference import SPAN_KIND as OI_SPAN_KIND
from gateway.formats.otlp.semconv import (
    DEFAULT,
    EXTENSIONS,
    SemConv,
    normalize_operation,
    normalize_provider,
    receiver_attribute_index,
)
from gateway.model import Customer, Kind, Record
from gateway.model import Status as RecordStatus

# Spans the gateway emitted for records that have no gen_ai.* attribute still carry one of these.
_RECORD_MARKERS = frozenset({EXTENSIONS.record_kind, EXTENSIONS.record_id, EXTENSIONS.generation_id})
_EXCEPTION_EVENT = "exception"  # the OpenTelemetry span event of a recorded exception
_ENVIRONMENT = "\0environment"  # carries the resource's environment to the record, never kept
MAX_LEARNT_NAMES = 4096  # attribute names outside the tables whose action a reader remembers

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
                attributes = span.attributes  # a new container object at each access: once
                if any(marks_genai(kv.key) for kv in attributes):
                    records.append(reader.record(span, attributes, scope_base))
                    continue
                rest_count += 1
                if passthrough:
                    record = reader.record(span, attributes, scope_base, genai=False)
                    record.kind = Kind.OTHER
                    record.extra[v.EXTRA_PASSTHROUGH] = True
                    records.append(record)
    return records, rest_count


def marks_genai(key: str) -> bool:
    """Whether an attribute key makes its span a GenAI one (:func:`traces_to_records`): a
    ``gen_ai.*`` key, a record marker the gateway writes, or OpenInference's span kind."""
    return key.startswith("gen_ai.") or key in _RECORD_MARKERS or key == OI_SPAN_KIND


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


@dataclass(slots=True)
class _Action:
    """What an attribute name does to a record, worked out once per name (see :meth:`_Reader.action`)."""

    extra_key: str  # where a value no handler takes is kept
    handler: Handler | None = None
    setter: Setter | None = None  # instead of a handler
    # Prefixed extension names: (record map attribute, accepted types, convert, map key), tried in order.
    prefixes: tuple[tuple[str, frozenset[type] | None, Callable[[Any], Any] | None, str], ...] = ()
    # A current name with deprecated aliases: the logical key it marks as read, so that they yield.
    marks: str | None = None
    deprecated: str | None = None  # a deprecated alias: its logical key (ignored once marked)
    normalize: Callable[[Any], Any] | None = None  # a deprecated name's value renames (str values)
    ambiguous_cache: bool = False  # a cache count that leaves open whether input includes it
    legacy: bool = False  # an indexed OpenLLMetry attribute, read by decode_legacy after the rest
    openinference: bool = False  # openinference.span.kind: the OpenInference reader goes first
    # The AnyValue field the name's last value came in: read first, which is enough whenever it
    # holds a non-default value (a oneof's other fields read as defaults). A guess, never a rule.
    wire: str = v.STRING_VALUE
    special: bool = field(init=False)  # deprecated, legacy or openinference: the reader's slow branch

    def __post_init__(self) -> None:
        self.special = self.deprecated is not None or self.legacy or self.openinference


class _Reader:
    """Attribute dispatch for one convention version: an :class:`_Action` per attribute name,
    for the known names built once, for other names learnt on first sight (at most
    :data:`MAX_LEARNT_NAMES`, then forgotten and learnt again)."""

    def __init__(self, semconv: SemConv) -> None:
        self.semconv = semconv
        self.index = receiver_attribute_index(semconv)
        self.canonical = {logical: getattr(semconv.attrs, logical) for logical in set(self.index.values())}
        self.environment_names = {k for k, logical in self.index.items() if logical == "deployment_environment"}
        self.fields = field_handlers()
        self.extensions = extension_handlers()
        self.kinds = v.operation_kinds(semconv)
        self.aliased = {logical for key, logical in self.index.items() if key != self.canonical[logical]}
        self._known = frozenset([*self.index, *self.extensions, OI_SPAN_KIND])
        self.actions = {key: self.action(key) for key in self._known}

    def action(self, key: str) -> _Action:
        """The action for ``key``: legacy names first, then the convention index, then the
        gateway's extensions, then the prefixed extension names; anything else is kept in extra."""
        if decode_legacy.is_legacy(key):
            return _Action(extra_key="", legacy=True)
        logical = self.index.get(key)
        if logical is not None:
            name = self.canonical[logical]
            normalize: Callable[[Any], Any] | None = None
            if key != name and key == "gen_ai.system":
                normalize = functools.partial(normalize_provider, semconv=self.semconv)  # the 1.37 value renames
            elif key != name and logical == "output_type":
                normalize = _output_type
            handler, setter = _split(self.fields.get(logical))
            return _Action(
                extra_key=v.EXTRA_ATTR + name,
                handler=handler,
                setter=setter,
                marks=logical if key == name and logical in self.aliased else None,
                deprecated=logical if key != name else None,
                normalize=normalize,
                ambiguous_cache=key != name and key in AMBIGUOUS_CACHE_ALIASES,
            )
        handler, setter = _split(self.extensions.get(key))
        return _Action(
            extra_key=v.EXTRA_ATTR + key,
            handler=handler,
            setter=setter,
            prefixes=tuple(
                (attribute, types, convert, key[len(prefix) :])
                for prefix, attribute, types, convert in PREFIXES
                if key.startswith(prefix)
            ),
            openinference=key == OI_SPAN_KIND,
        )

    def record(self, span: Span, attributes: Sequence[KeyValue], base: dict[str, Any], *, genai: bool = True) -> Record:
        """The record of ``span``, whose ``attributes`` the caller read already."""
        record, state = self._new(span, base), State()
        if not self._read(record, state, attributes):
            # An OpenInference span: its reader takes its attributes first, the rest come after.
            record, state = self._new(span, base), State()
            values = [(kv.key, v.to_python(kv.value)) for kv in attributes]
            state.kind, rest = decode_openinference.read(record, values)
            self._read(record, state, [attributes[position] for position in rest])
        self._resolve(record, state)
        self._span_details(record, span, genai)
        return record

    def _new(self, span: Span, base: dict[str, Any]) -> Record:
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
        return record

    def _read(self, record: Record, state: State, attributes: Iterable[KeyValue]) -> bool:
        """Reads the attributes into the record; False (and the record half read) at
        ``openinference.span.kind``, which needs the OpenInference reader first."""
        actions, extra, seen = self.actions, record.extra, state.canonical_seen
        legacy: list[tuple[str, Any]] = []
        for kv in attributes:
            key = kv.key
            action = actions.get(key) or self._learn(key)
            any_value = kv.value
            value = getattr(any_value, action.wire)
            if not value:  # another field, or a default value
                value = v.to_python(any_value)
                action.wire = v.WIRE_FIELDS.get(type(value), action.wire)
            if action.marks is not None:
                seen.add(action.marks)
            elif action.special:
                if action.legacy:
                    legacy.append((key, value))
                    continue
                if action.openinference:
                    return False
                if action.deprecated in seen:
                    continue  # a deprecated duplicate of a current attribute already read
                if action.normalize is not None and isinstance(value, str):
                    value = action.normalize(value)
                if action.ambiguous_cache:
                    state.ambiguous_cache = True
            setter = action.setter
            if setter is not None:
                if type(value) in setter.types:
                    target = record if setter.on == "record" else record.usage if setter.on == "usage" else state
                    setattr(target, setter.name, value if setter.convert is None else setter.convert(value))
                    continue
            elif action.handler is not None and action.handler(record, value, state):
                continue
            for attribute, types, convert, name in action.prefixes:
                if types is None or type(value) in types:
                    getattr(record, attribute)[name] = value if convert is None else convert(value)
                    break
            else:
                extra[action.extra_key] = value
        if legacy:
            decode_legacy.read(record, legacy)  # after the current names, which win
        return True

    def _learn(self, key: str) -> _Action:
        actions = self.actions
        if len(actions) >= len(self._known) + MAX_LEARNT_NAMES:
            # Names no table lists may be unbounded (indexed content keys): start again.
            for name in [name for name in actions if name not in self._known]:
                del actions[name]
        action = actions[key] = self.action(key)
        return action

    def _resolve(self, record: Record, state: State) -> None:
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
        # A span that succeeded mostly has no status: HasField costs less than reading the code.
        code = span.status.code if span.HasField("status") else Status.STATUS_CODE_UNSET
        if code == Status.STATUS_CODE_ERROR:
            if genai and not record.error_type:
                # OpenInference and others record the error only as an exception event (a
                # pass-through span is given back as it came, so it gains no error.type).
                _exception_event(record, span)
            record.status = ERROR_TYPE_STATUS.get(record.error_type.rsplit(".", 1)[-1], RecordStatus.ERROR)
            record.error_message = span.status.message or record.error_message
        elif code == Status.STATUS_CODE_OK:
            extra[v.EXTRA_STATUS_CODE] = int(code)
        if span.trace_state:
            extra[v.EXTRA_TRACE_STATE] = span.trace_state
        counts = (span.dropped_attributes_count, span.dropped_events_count, span.dropped_links_count)
        if any(counts):
            names = ("attributes", "events", "links")
            extra[v.EXTRA_DROPPED] = {name: n for name, n in zip(names, counts, strict=True) if n}
        if span.flags:
            extra[v.EXTRA_FLAGS] = span.flags
        events = span.events
        if events:
            if genai:
                decode_legacy.events(record, [(e.name, v.attributes_to_dict(e.attributes)) for e in events])
            extra[v.EXTRA_EVENTS] = [
                {
                    "name": e.name,
                    "time_unix_nano": e.time_unix_nano,
                    "attributes": v.attributes_to_dict(e.attributes),
                }
                for e in events
            ]
        links = span.links
        if links:
            extra[v.EXTRA_LINKS] = [
                {
                    "trace_id": link.trace_id.hex(),
                    "span_id": link.span_id.hex(),
                    "trace_state": link.trace_state,
                    "flags": link.flags,
                    "attributes": v.attributes_to_dict(link.attributes),
                }
                for link in links
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


def _split(found: Handler | Setter | None) -> tuple[Handler | None, Setter | None]:
    return (None, found) if isinstance(found, Setter) else (found, None)


def _output_type(value: str) -> str:
    return OUTPUT_TYPE_ALIASES.get(value, value)


def _infer_kind(record: Record) -> Kind:
    if record.tool_name:
        return Kind.TOOL
    if record.model or record.response_model or record.provider or not record.usage.is_empty():
        return Kind.LLM
    return Kind.OTHER
