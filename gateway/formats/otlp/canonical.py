"""Which OTLP spans the records path gives back unchanged: the rule of the pass-through
(:mod:`.native`), stated in its module docstring and checked here in one pass per request.

Reading every attribute of every span through protobuf's Python objects would cost more than
the pass-through saves (about 0.4 µs an attribute), so the request is parsed a second time, by
upb in C, into a *view* in which a span's attributes are a ``map<string, bytes>``: each key with
its ``AnyValue`` still serialized. Then, per span:

* the key sequence is looked up in a plan made once per sequence (one instrumentation sends the
  same keys span after span): which keys can take any value, which must not be an empty string
  (told from the value's last bytes), which the rule reads, which are content;
* the values the rule reads (operation, provider, model, finish reasons, ...) repeat from span to
  span too: with the span's name and status code they form a signature, judged once and
  remembered (ids, different in every span, count by their presence);
* content attributes are judged every time, by a shortcut for text-only messages (orjson parses
  and writes them again) or the encoder's own functions.

A span without GenAI attributes, when the receiver passes such spans through, is judged by the
same per-span checks and plan, without the GenAI rules (:meth:`Rules.other_span`).

Repeated keys are found by comparing the map's size with the span's attribute count. The view
keeps the last value field of a key-value pair; protobuf would merge two (no SDK writes a pair
so), and the rule judges such a pair by its last value. Values the records path gives back
whatever they hold are not read at all, so a key-value list with a key twice (which the protocol
forbids) goes as it came.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, Final

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status

from gateway import formats
from gateway.formats.otlp import canonical_content, decode_legacy
from gateway.formats.otlp.aliases import DEPRECATED_REMOVED, DEPRECATED_RENAMES, FINISH_REASON_ALIASES
from gateway.formats.otlp.decode import marks_genai
from gateway.formats.otlp.decode_attributes import extension_handlers, field_handlers
from gateway.formats.otlp.encode import DEFAULT_SCOPE_NAME
from gateway.formats.otlp.openinference import SPAN_KIND as OI_SPAN_KIND
from gateway.formats.otlp.semconv import (
    EXTENSIONS,
    SemConv,
    normalize_operation,
    normalize_provider,
    receiver_attribute_index,
)
from gateway.formats.otlp.values import operation_kinds
from gateway.model import Kind

_MAX_TIME: Final = 2**63 - 1  # the receivers' timestamp range (gateway.receivers._common)
_NO_TRACE: Final = bytes(16)
_NO_SPAN: Final = bytes(8)
_UNSET, _OK, _ERROR = Status.STATUS_CODE_UNSET, Status.STATUS_CODE_OK, Status.STATUS_CODE_ERROR

# What an attribute key is (one small int per key, classified once per name).
(
    _ANY,  # goes back as it came whatever its value: in Record.extra, or a field written back
    _NONEMPTY,  # a record string field: an empty string would not be written back
    _UNSAFE,  # the records path renames it or reads it into something else
    _INTEGER,  # written back as an int only when it is one (encode._typed)
    _DOUBLE,  # a number field: an int would come back a double; NaN never equals itself
    _TRUE,  # gen_ai.request.stream: written only when true
    _STRLIST,  # a list field: an empty list would not be written back
    _ARRAY,  # kept in extra, but a string would come back a list
    _NOT_INT,  # an evaluation score: an int would come back a double
    _FINISH,
    _TTFC,
    _OPERATION,
    _PROVIDER,
    _ORIGINAL_OPERATION,
    _RECORD_NAME,
    _RECORD_KIND,
    _GENERATION_ID,
    _RECORD_ID,
    _ERROR_TYPE,
    _MODEL,
    _TOOL_NAME,
    _AGENT_NAME,
    _WORKFLOW_NAME,
    _CAPTURE_MODE,  # the capture-mode label: metadata_only turns content off
    _STRING,  # tool call arguments and results: another type would come back a JSON string
    _INPUT,
    _OUTPUT,
    _SYSTEM,
    _TOOLS,
    _STATE,
) = range(30)
_CONTENT: Final = {  # rule -> what canonical_content judges
    _INPUT: canonical_content.INPUT,
    _OUTPUT: canonical_content.OUTPUT,
    _SYSTEM: canonical_content.SYSTEM,
    _TOOLS: canonical_content.TOOLS,
    _STATE: canonical_content.STATE,
}
_IDS: Final = frozenset({_GENERATION_ID, _RECORD_ID})
_READ_ANYWAY: Final = {*_CONTENT, _OPERATION, _STRING}

_LOGICAL_RULES: Final = {
    "operation_name": _OPERATION,
    "provider_name": _PROVIDER,
    "request_model": _MODEL,
    "tool_name": _TOOL_NAME,
    "agent_name": _AGENT_NAME,
    "workflow_name": _WORKFLOW_NAME,
    "request_max_tokens": _INTEGER,
    "request_temperature": _DOUBLE,
    "request_top_p": _DOUBLE,
    "request_stream": _TRUE,
    "response_finish_reasons": _FINISH,
    "response_time_to_first_chunk": _TTFC,
    "input_messages": _INPUT,
    "output_messages": _OUTPUT,
    "system_instructions": _SYSTEM,
    "tool_definitions": _TOOLS,
    "error_type": _ERROR_TYPE,
    "tool_call_arguments": _STRING,
    "tool_call_result": _STRING,
    # No record field: kept in extra, but written back in the conventions' type (encode._typed).
    "request_top_k": _INTEGER,
    "request_seed": _INTEGER,
    "request_choice_count": _INTEGER,
    "request_stop_sequences": _ARRAY,
    "request_encoding_formats": _ARRAY,
    **{
        name: _ANY  # an int field: another type stays in extra and goes back as it came
        for name in (
            "usage_input_tokens",
            "usage_output_tokens",
            "usage_cache_read_input_tokens",
            "usage_cache_creation_input_tokens",
            "usage_reasoning_output_tokens",
        )
    },
    **{
        name: _NONEMPTY
        for name in (
            "conversation_id",
            "agent_version",
            "response_id",
            "response_model",
            "tool_call_id",
            "tool_type",
            "tool_description",
            "user_id",
            "session_id",
        )
    },
}
_X = EXTENSIONS
_EXTENSION_RULES: Final = {
    _X.generation_id: _GENERATION_ID,
    _X.record_id: _RECORD_ID,
    _X.original_operation: _ORIGINAL_OPERATION,
    _X.record_name: _RECORD_NAME,
    _X.record_kind: _RECORD_KIND,
    _X.thinking_enabled: _ANY,
    _X.cost_usd: _DOUBLE,
    _X.input_state: _STATE,
    _X.output_state: _STATE,
    **{
        name: _NONEMPTY
        for name in (
            _X.conversation_title,
            _X.tool_choice,
            _X.trace_name,
            _X.workflow_run_id,
            _X.effective_version,
            _X.framework,
            _X.sdk_version,
            _X.prompt_hash,
            _X.customer_id,
            _X.customer_name,
            _X.customer_image_url,
        )
    },
    **{
        name: _STRLIST
        for name in (_X.parent_generation_ids, _X.tools_used, _X.linked_generation_ids, _X.parent_step_ids)
    },
    **{
        name: _ANY
        for name in (_X.usage_total_tokens, _X.usage_image_count, _X.usage_web_search_count, _X.usage_request_count)
    },
}
_MEMO_ITEMS: Final = 4096  # plans and span signatures remembered at most (then forgotten all at once)
_MEMO_BYTES: Final = 4096  # keys or values of one plan or signature, at most, to be remembered


def _view() -> Any:
    """The request class whose spans hold only ``map<string, bytes> attributes = 9`` (the
    ``KeyValue`` layout: key field 1, value field 2) as ``items``, and the span's ``start`` (7),
    ``end`` (8) and ``status.code`` (15.3), built once in a pool of its own."""
    field = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(name="gateway/otlp/span_view.proto", package="gateway.otlp_view")
    file.syntax = "proto3"

    def message(name: str, number: int, type_name: str) -> descriptor_pb2.DescriptorProto:
        m = file.message_type.add(name=name)
        m.field.add(
            name="items", number=number, label=field.LABEL_REPEATED, type=field.TYPE_MESSAGE, type_name=type_name
        )
        return m

    span = message("Span", 9, ".gateway.otlp_view.Span.Entry")
    entry = span.nested_type.add(name="Entry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, label=field.LABEL_OPTIONAL, type=field.TYPE_STRING)
    entry.field.add(name="value", number=2, label=field.LABEL_OPTIONAL, type=field.TYPE_BYTES)
    span.field.add(name="start", number=7, label=field.LABEL_OPTIONAL, type=field.TYPE_FIXED64)
    span.field.add(name="end", number=8, label=field.LABEL_OPTIONAL, type=field.TYPE_FIXED64)
    status_type = ".gateway.otlp_view.Status"
    span.field.add(name="status", number=15, label=field.LABEL_OPTIONAL, type=field.TYPE_MESSAGE, type_name=status_type)
    status = file.message_type.add(name="Status")
    status.field.add(name="code", number=3, label=field.LABEL_OPTIONAL, type=field.TYPE_INT32)
    message("ScopeSpans", 2, ".gateway.otlp_view.Span")
    message("ResourceSpans", 2, ".gateway.otlp_view.ScopeSpans")
    message("Request", 1, ".gateway.otlp_view.ResourceSpans")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("gateway.otlp_view.Request"))


_VIEW: Final = _view()


def view(body: bytes) -> Any:
    """The request ``body`` (protobuf bytes) parsed into the view (:func:`_view`): resources,
    scopes and spans each as ``.items``, a span's attributes as a map of key to serialized
    ``AnyValue``. Raises ``google.protobuf.message.DecodeError``."""
    return _VIEW.FromString(body)


class _Plan:
    """What the keys of one attribute sequence need (identity-hashed: a memo key part)."""

    __slots__ = ("contents", "ids", "ids_and_read", "nonempty", "read", "unsafe")

    def __init__(self, keys: tuple[str, ...], rule_of: Callable[[str], int]) -> None:
        rules = [(key, rule_of(key)) for key in keys]
        self.unsafe = any(rule == _UNSAFE for _, rule in rules)
        self.nonempty = [key for key, rule in rules if rule == _NONEMPTY]
        ids = [(key, rule) for key, rule in rules if rule in _IDS]
        read = [
            (key, rule) for key, rule in rules if rule > _UNSAFE and rule not in _CONTENT and (key, rule) not in ids
        ]
        self.ids = [key for key, _ in ids]
        self.read = [key for key, _ in read]
        self.ids_and_read = ids + read
        self.contents = [(key, _CONTENT[rule]) for key, rule in rules if rule in _CONTENT]


@functools.lru_cache(maxsize=4)
def rules(semconv: SemConv) -> Rules:
    return Rules(semconv)


class Rules:
    """The rule's tables for one convention version (the decoder's), built once."""

    def __init__(self, semconv: SemConv) -> None:
        self.semconv = semconv
        self.index = receiver_attribute_index(semconv)
        self.kinds = operation_kinds(semconv)
        self.ops = ops = semconv.operations
        self.subjects = {
            ops.execute_tool: _TOOL_NAME,
            ops.invoke_agent: _AGENT_NAME,
            ops.create_agent: _AGENT_NAME,
            ops.invoke_workflow: _WORKFLOW_NAME,
        }
        self.fields = field_handlers()
        self.extensions = extension_handlers()
        self.environment = semconv.attrs.deployment_environment
        self.environment_names = {k for k, logical in self.index.items() if logical == "deployment_environment"}
        self.service_name = semconv.attrs.service_name
        self.capture_key = EXTENSIONS.metadata_prefix + formats.capture_mode_key()
        self.deprecated = set(DEPRECATED_RENAMES) | DEPRECATED_REMOVED
        self.content_events = {decode_legacy.PROMPT_EVENT[0], decode_legacy.COMPLETION_EVENT[0]}
        self.keys: dict[str, int] = {}
        self.plans: dict[tuple[str, ...], _Plan] = {}  # per attribute key sequence
        self.memo: dict[tuple[Any, ...], tuple[bool, list[str] | None]] = {}  # span signatures judged
        self.operations: dict[str, str] = {}  # operation names normalised before

    def rule(self, key: str) -> int:
        """What ``key`` is, in the decoder's lookup order (decode._Reader._attribute)."""
        rule = self.keys.get(key)
        if rule is None:
            rule = self.keys[key] = self._classify(key)
        return rule

    def _classify(self, key: str) -> int:
        if decode_legacy.is_legacy(key) or key == OI_SPAN_KIND or key in self.deprecated:
            return _UNSAFE
        logical = self.index.get(key)
        if logical is not None:
            if getattr(self.semconv.attrs, logical) != key or logical == "deployment_environment":
                return _UNSAFE  # an alias or an older name: renamed on the way out
            rule = _LOGICAL_RULES.get(logical)
            if rule is not None:
                return rule
            return _UNSAFE if logical in self.fields else _ANY
        if key in self.extensions:
            return _EXTENSION_RULES.get(key, _UNSAFE)  # aliases and vendor names: renamed
        if key == self.capture_key:
            return _CAPTURE_MODE
        if key.startswith(EXTENSIONS.eval_score_prefix):
            return _NOT_INT
        return _ANY

    # -- a request --------------------------------------------------------------------------------

    def survey(
        self, request: ExportTraceServiceRequest, body: bytes, passthrough: bool = False
    ) -> tuple[int, set[str], set[str]] | None:
        """(spans, service names, scope names) when every span of ``request`` (parsed from
        ``body``) is canonical, else None. With ``passthrough`` (the records path keeps spans
        without GenAI attributes as they came), such a span is judged by :meth:`other_span`."""
        try:
            request_view = view(body)
        except DecodeError:
            return None
        # First the cheap test that finds most requests of other spans (HTTP handlers, database
        # calls sent beside GenAI spans): a span without an operation name is not canonical,
        # unless it is one of those and the records path passes them through.
        operation = self.semconv.attrs.operation_name
        for rs_view in request_view.items:
            for ss_view in rs_view.items:
                for span_view in ss_view.items:
                    if operation not in span_view.items and not (passthrough and _other(span_view.items)):
                        return None
        services: set[str] = set()
        scopes: set[str] = set()
        count = 0
        for rs, rs_view in zip(request.resource_spans, request_view.items, strict=True):
            service = self._resource(rs)
            if service is None:
                return None
            services.add(service)
            for ss, ss_view in zip(rs.scope_spans, rs_view.items, strict=True):
                scope = ss.scope
                name = scope.name
                if not name or (name == DEFAULT_SCOPE_NAME and not ss.schema_url):
                    return None  # the encoder would name it, or give it the conventions' schema
                if scope.attributes or scope.dropped_attributes_count:
                    return None  # a record keeps a scope's name and version only
                scopes.add(name)
                for span, span_view in zip(ss.spans, ss_view.items, strict=True):
                    attributes = span_view.items
                    judge = self.span if operation in attributes else self.other_span
                    if not judge(span, attributes):
                        return None
                    count += 1
        return count, services, scopes

    def _resource(self, rs: ResourceSpans) -> str | None:
        """The resource's service name when the encoder would write the resource back as it is."""
        resource = rs.resource
        if resource.dropped_attributes_count or len(resource.entity_refs):
            return None
        service: str | None = None
        seen: set[str] = set()
        for kv in resource.attributes:
            key, value = kv.key, kv.value
            if key in seen:
                return None
            seen.add(key)
            if key in self.environment_names and (
                key != self.environment or (value.HasField("string_value") and not value.string_value)
            ):
                return None  # renamed, or an empty environment a record cannot hold
            if key == self.service_name:
                service = value.string_value if value.HasField("string_value") else ""
        return service  # None without service.name: the encoder would add its default

    # -- a span -----------------------------------------------------------------------------------

    def span(self, span: Span, attributes: Any) -> bool:
        """Whether a GenAI span is canonical (``attributes``: its view's map)."""
        plan = self._common(span, attributes)
        if plan is None:
            return False
        get = attributes.__getitem__
        code = span.status.code
        signature: list[Any] = [plan, span.name, code]
        size = len(span.name)
        for raw in map(get, plan.ids):
            if len(raw) > 2 and raw[1] + 2 == len(raw) and raw[0] == 0x0A:
                signature.append(True)  # one non-empty string
            else:
                signature.append(raw)  # judged as it is
                size += len(raw)
        read = list(map(get, plan.read))
        signature.extend(read)
        whole = tuple(signature)
        memo = self.memo
        known = memo.get(whole)
        if known is None:
            known = self._attributes(plan, whole)
            if size + sum(map(len, read)) <= _MEMO_BYTES:  # only short values are kept
                if len(memo) >= _MEMO_ITEMS:
                    memo.clear()
                memo[whole] = known
        ok, finish = known
        if not ok:
            return False
        return all(canonical_content.written_back(kind, get(key), finish) for key, kind in plan.contents)

    def other_span(self, span: Span, attributes: Any) -> bool:
        """Whether a span without GenAI attributes, which the records path passes through as a
        record of kind ``other`` (``traces_to_records(passthrough=True)``), comes back unchanged:
        the checks of every span, a name (the encoder names a nameless span by its kind), and
        each value the decoder reads into a record field of the type that field holds. The rules
        of what the conventions add to a GenAI span (operation, the span name's shape, ids) do
        not apply: the encoder adds none of it to a pass-through record."""
        if not span.name:
            return False
        plan = self._common(span, attributes)
        if plan is None or plan.contents or plan.ids:
            return False
        get = attributes.__getitem__
        return all(self._judge(rule, get(key))[0] for key, rule in plan.ids_and_read)

    def _common(self, span: Span, attributes: Any) -> _Plan | None:
        """The checks of every span, GenAI or passed through; the plan of its keys when they pass."""
        trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
        if len(trace_id) != 16 or trace_id == _NO_TRACE or len(span_id) != 8 or span_id == _NO_SPAN:
            return None
        if parent and (len(parent) != 8 or parent == _NO_SPAN):
            return None
        start, end = span.start_time_unix_nano, span.end_time_unix_nano
        if not 0 < start <= end <= _MAX_TIME:
            return None
        if (span.events or span.links) and not self._events_and_links(span):
            return None
        status = span.status
        code = status.code
        if code != _ERROR and (status.message or (code != _UNSET and code != _OK)):
            return None
        if len(attributes) != len(span.attributes):
            return None  # a key twice: the record keeps one
        # Spans of one instrumentation carry the same keys: what each key needs is planned once
        # per key sequence. What the whole-span checks read (operation, provider, model, finish
        # reasons, ...) repeats from span to span: judged once per combination and remembered.
        # Ids (different in every span) count only by their presence; content is judged apart.
        shape = tuple(attributes)
        plans = self.plans
        plan = plans.get(shape)
        if plan is None:
            plan = _Plan(shape, self.rule)
            if sum(map(len, shape)) <= _MEMO_BYTES:  # odd, huge key sets are not kept
                if len(plans) >= _MEMO_ITEMS:
                    plans.clear()
                plans[shape] = plan
        if plan.unsafe:
            return None
        get = attributes.__getitem__
        for raw in map(get, plan.nonempty):
            if raw.endswith(b"\n\x00"):
                return None  # (perhaps) an empty string, which the record would not write back
        return plan

    def _attributes(self, plan: _Plan, signature: tuple[Any, ...]) -> tuple[bool, list[str] | None]:
        """The span's judgement but for content, from its signature (plan, name, status code, the
        ids' values or True, the read keys' values); and its finish reasons, which content is
        judged with."""
        name, code = signature[1], signature[2]
        facts: dict[int, Any] = {}
        values = signature[3:]
        for (_, rule), value in zip(plan.ids_and_read, values, strict=True):
            if value is True:
                facts[rule] = True
                continue
            ok, fact = self._judge(rule, value)
            if not ok:
                return False, None
            if fact is not None:
                facts[rule] = fact
        return self._whole(name, facts, code), facts.get(_FINISH)

    def _events_and_links(self, span: Span) -> bool:
        """Whether the record's copies of the events and links (``otlp.span.events``, ``.links``)
        give them back: no content event the record would read (pre-1.28 prompt and completion
        events), no dropped-attribute counts (not kept), no key twice, valid link ids."""
        for event in span.events:
            if event.name in self.content_events or event.dropped_attributes_count or _repeats(event.attributes):
                return False
        for link in span.links:
            trace_id, span_id = link.trace_id, link.span_id
            if len(trace_id) != 16 or trace_id == _NO_TRACE or len(span_id) != 8 or span_id == _NO_SPAN:
                return False
            if link.dropped_attributes_count or _repeats(link.attributes):
                return False
        return True

    def _judge(self, rule: int, raw: bytes) -> tuple[bool, Any]:
        """Whether one value of a key the rule reads keeps the span canonical, and what the
        whole-span checks need of it (None: nothing)."""
        text = canonical_content.short_string(raw)
        value = AnyValue() if text is not None else AnyValue.FromString(raw)
        which = "string_value" if text is not None else value.WhichOneof("value")
        if rule == _INTEGER:
            return which == "int_value", None
        if rule in (_DOUBLE, _NOT_INT):
            return which != "int_value" and not (which == "double_value" and math.isnan(value.double_value)), None
        if rule == _TTFC:
            # A negative or infinite value would not be written back; another type is kept as is.
            number = value.double_value
            return (which == "double_value" and math.isfinite(number) and number >= 0) or (
                which not in ("int_value", "double_value")
            ), None
        if rule == _TRUE:
            return which != "bool_value" or value.bool_value, None
        if rule == _ARRAY:
            return which != "string_value", None
        if rule in (_STRLIST, _FINISH):
            if which != "array_value":
                return rule == _STRLIST, None  # kept in extra as it came; a string finish reason is read
            items = value.array_value.values
            if not items:
                return False, None
            if rule == _STRLIST:
                return True, None
            if any(item.WhichOneof("value") != "string_value" for item in items):
                return False, None
            reasons = [item.string_value for item in items]
            return all(FINISH_REASON_ALIASES.get(r, r) == r for r in reasons), reasons
        if which != "string_value":
            # Kept in extra and written back as it came, unless the record reads it anyway (the
            # operation, content); an error.type that is not a string is judged with the status.
            return rule not in _READ_ANYWAY, None
        if text is None:
            text = value.string_value
        if rule == _CAPTURE_MODE:
            return text != "metadata_only", None
        if not text:
            return False, None
        if rule == _PROVIDER:
            return normalize_provider(text, self.semconv) == text, None
        return True, None if rule == _STRING else text

    def _whole(self, name: str, facts: dict[int, Any], code: int) -> bool:
        """The checks that take several attributes: operation, kind, name, ids, error."""
        get = facts.get
        operation = get(_OPERATION)
        if operation is None or self._normal(operation) != operation:
            return False
        original = get(_ORIGINAL_OPERATION)
        if original is not None and (original == operation or self._normal(original) != operation):
            return False
        implied = self.kinds.get(operation)
        kind = implied
        record_kind = get(_RECORD_KIND)
        if record_kind is not None:
            try:
                kind = Kind(record_kind)
            except ValueError:
                return False
            if kind is implied:
                return False  # the encoder writes gateway.record.kind only when the operation does not say it
        if kind is None or kind is Kind.OTHER or operation == self.ops.retrieval:
            return False  # named and kept apart by the encoder (a data source, the span's own name)
        ids = (_GENERATION_ID in facts, _RECORD_ID in facts)
        if any(ids) and not ids[0 if kind is Kind.LLM else 1]:
            return False  # the encoder writes the id under the name its kind uses
        if (_ERROR_TYPE in facts) != (code == _ERROR):
            return False  # error.type is written for failed spans only, and always for them
        subject = get(self.subjects.get(operation, _MODEL))  # as encode._Writer._name picks it
        return name == (f"{operation} {subject}" if subject else operation) and get(_RECORD_NAME) != name

    def _normal(self, operation: str) -> str:
        normal = self.operations.get(operation)
        if normal is None:
            if len(self.operations) >= _MEMO_ITEMS:
                self.operations.clear()
            normal = self.operations[operation] = normalize_operation(operation, "", self.semconv)
        return normal


def _other(attributes: Any) -> bool:
    """Whether a span's attribute keys make it one the decoder does not read as GenAI."""
    return not any(map(marks_genai, attributes))


def _repeats(attributes: Any) -> bool:
    return len({kv.key for kv in attributes}) != len(attributes)
