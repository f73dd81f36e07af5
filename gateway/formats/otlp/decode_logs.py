"""OTLP logs carrying GenAI events -> content for the records of their spans.

Instrumentations that capture content as events (openai-v2's default, Traceloop with
``use_attributes=False``) send it through the Logs API, one log record per event, carrying the
trace and span id of the model call's span. The event name is the log record's ``event_name``
field or, from older SDKs, the ``event.name`` attribute:

* ``gen_ai.system.message`` / ``gen_ai.user.message`` / ``gen_ai.assistant.message`` /
  ``gen_ai.tool.message`` (body ``{content, tool_calls?, id?}``): input messages, in order;
* ``gen_ai.choice`` (body ``{index, finish_reason, message: {role, content, tool_calls?}}``):
  output messages and finish reasons;
* ``gen_ai.client.inference.operation.details`` (the current conventions): the span's content
  attributes (``gen_ai.input.messages``, ``gen_ai.output.messages``,
  ``gen_ai.system_instructions``, ``gen_ai.tool.definitions``) as event attributes.

Decoding is pure (:func:`logs_to_events`, :func:`apply_events`); holding events until their span
arrives is the receiver's business. The JSON body reader follows :mod:`.wire`'s rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from gateway.formats.otlp import content
from gateway.formats.otlp import values as v
from gateway.formats.otlp import wire as w
from gateway.formats.otlp.semconv import DEFAULT, SemConv
from gateway.model import Message, Part, PartKind, Record, Role

EVENT_NAME_ATTRIBUTE = "event.name"  # where SDKs before LogRecord.event_name put the name
GENAI_EVENT_PREFIX = "gen_ai."
# Deprecated per-message events -> the role of the message they carry.
MESSAGE_EVENTS = {
    "gen_ai.system.message": Role.SYSTEM,
    "gen_ai.user.message": Role.USER,
    "gen_ai.assistant.message": Role.ASSISTANT,
    "gen_ai.tool.message": Role.TOOL,
}
SERVICE_NAME = "service.name"
CHOICE_EVENT = "gen_ai.choice"
DETAILS_EVENT = "gen_ai.client.inference.operation.details"


@dataclass(slots=True)
class GenAiEvent:
    """One GenAI event, keyed to its span."""

    trace_id: str  # hex
    span_id: str  # hex
    name: str
    time_unix_nano: int
    body: Any  # the body AnyValue as Python data (None when absent)
    attributes: dict[str, Any] = field(default_factory=dict)
    service: str = ""  # the resource's service.name

    @property
    def key(self) -> tuple[str, str]:
        return self.trace_id, self.span_id

    @property
    def final(self) -> bool:
        """The last event of a call: output, or the whole call in one event."""
        return self.name in (CHOICE_EVENT, DETAILS_EVENT)


def decode_logs_protobuf(body: bytes) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise w.OtlpDecodeError(f"invalid protobuf ExportLogsServiceRequest: {exc}") from None
    return request


def decode_logs_json(body: bytes) -> ExportLogsServiceRequest:
    """OTLP/JSON ``ExportLogsServiceRequest`` (hex ids, integer enums, camelCase or snake_case)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise w.OtlpDecodeError(f"invalid JSON: {exc}") from None
    request = ExportLogsServiceRequest()
    obj = w._obj(data, "$")
    for i, rl_data in w._items(obj, "resourceLogs", "resource_logs", "$"):
        path = f"resourceLogs[{i}]"
        rl = request.resource_logs.add()
        rl_obj = w._obj(rl_data, path)
        if (resource := w._get(rl_obj, "resource", "resource")) is not None:
            w._resource(rl.resource, w._obj(resource, f"{path}.resource"), f"{path}.resource")
        rl.schema_url = w._str_field(rl_obj, "schemaUrl", "schema_url", path)
        for j, sl_data in w._items(rl_obj, "scopeLogs", "scope_logs", path):
            sl_path = f"{path}.scopeLogs[{j}]"
            sl = rl.scope_logs.add()
            sl_obj = w._obj(sl_data, sl_path)
            if (scope := w._get(sl_obj, "scope", "scope")) is not None:
                w._scope(sl.scope, w._obj(scope, f"{sl_path}.scope"), f"{sl_path}.scope")
            sl.schema_url = w._str_field(sl_obj, "schemaUrl", "schema_url", sl_path)
            for k, lr_data in w._items(sl_obj, "logRecords", "log_records", sl_path):
                lr_path = f"{sl_path}.logRecords[{k}]"
                _log_record(sl.log_records.add(), w._obj(lr_data, lr_path), lr_path)
    return request


def _log_record(lr: LogRecord, obj: dict[str, Any], path: str) -> None:
    lr.time_unix_nano = w._int_field(obj, "timeUnixNano", "time_unix_nano", path, 0, 2**64 - 1)
    lr.observed_time_unix_nano = w._int_field(
        obj, "observedTimeUnixNano", "observed_time_unix_nano", path, 0, 2**64 - 1
    )
    if (severity := w._get(obj, "severityNumber", "severity_number")) is not None:
        lr.severity_number = w._int(severity, f"{path}.severityNumber", 0, 2**31 - 1)  # type: ignore[assignment]
    lr.severity_text = w._str_field(obj, "severityText", "severity_text", path)
    if (body := obj.get("body")) is not None:
        w._any_value(lr.body, body, f"{path}.body")
    w._attributes(lr.attributes, obj, path)
    lr.dropped_attributes_count = w._count(obj, "droppedAttributesCount", "dropped_attributes_count", path)
    lr.flags = w._int_field(obj, "flags", "flags", path, 0, 2**32 - 1)
    lr.trace_id = w._id(obj, "traceId", "trace_id", v.TRACE_ID_SIZE, path)
    lr.span_id = w._id(obj, "spanId", "span_id", v.SPAN_ID_SIZE, path)
    lr.event_name = w._str_field(obj, "eventName", "event_name", path)


def logs_to_events(request: ExportLogsServiceRequest) -> tuple[list[GenAiEvent], int]:
    """The GenAI events that name a span, and how many other log records the request held."""
    events: list[GenAiEvent] = []
    other = 0
    for rl in request.resource_logs:
        service = next((kv.value.string_value for kv in rl.resource.attributes if kv.key == SERVICE_NAME), "")
        for sl in rl.scope_logs:
            for lr in sl.log_records:
                attributes = v.attributes_to_dict(lr.attributes)
                name = lr.event_name or attributes.pop(EVENT_NAME_ATTRIBUTE, "")
                if not (isinstance(name, str) and name.startswith(GENAI_EVENT_PREFIX)) or not lr.span_id:
                    other += 1
                    continue
                events.append(
                    GenAiEvent(
                        trace_id=lr.trace_id.hex(),
                        span_id=lr.span_id.hex(),
                        name=name,
                        time_unix_nano=lr.time_unix_nano or lr.observed_time_unix_nano,
                        body=v.to_python(lr.body) if lr.HasField("body") else None,
                        attributes=attributes,
                        service=service,
                    )
                )
    return events, other


def apply_events(record: Record, events: list[GenAiEvent], semconv: SemConv = DEFAULT) -> None:
    """Fills the record's content from its span's events. Content the span already carried wins
    (an instrumentation sends one or the other)."""
    inputs: list[Message] = []
    outputs: list[tuple[int, Message, str]] = []
    system: list[str] = []
    for event in sorted(events, key=lambda e: e.time_unix_nano):
        body = event.body if isinstance(event.body, dict) else {}
        role = MESSAGE_EVENTS.get(event.name)
        if role is Role.SYSTEM:
            system.append(_text(body.get("content")))
        elif role is not None:
            inputs.append(_message(role, body))
        elif event.name == CHOICE_EVENT:
            message = body.get("message")
            if isinstance(body.get("tool_calls"), list):
                # OpenLLMetry puts the tool calls beside the message, not in it.
                message = {**(message if isinstance(message, dict) else {}), "tool_calls": body["tool_calls"]}
            index = body.get("index")
            reason = body.get("finish_reason")
            outputs.append(
                (
                    index if isinstance(index, int) else len(outputs),
                    _message(Role.ASSISTANT, message if isinstance(message, dict) else {}),
                    reason if isinstance(reason, str) else "",
                )
            )
        elif event.name == DETAILS_EVENT:
            _details(record, event.attributes, semconv)
    if system and not record.system_prompt:
        record.system_prompt = "\n".join(system)
    if inputs and not record.input:
        record.input = inputs
    if outputs and not record.output:
        outputs.sort(key=lambda item: item[0])
        record.output = [message for _, message, _ in outputs]
        if not record.stop_reason and outputs[0][2]:
            record.stop_reason = outputs[0][2]


def _details(record: Record, attributes: dict[str, Any], semconv: SemConv) -> None:
    a = semconv.attrs
    try:
        if not record.input and a.input_messages in attributes:
            record.input = content.parse_messages(attributes[a.input_messages])[0]
        if not record.output and a.output_messages in attributes:
            record.output, reasons = content.parse_messages(attributes[a.output_messages])
            if reasons and not record.stop_reason:
                record.stop_reason = reasons[0]
        if not record.system_prompt and a.system_instructions in attributes:
            record.system_prompt = content.parse_system_instructions(attributes[a.system_instructions])
        if not record.tools and a.tool_definitions in attributes:
            record.tools = content.parse_tool_definitions(attributes[a.tool_definitions])
    except ValueError:
        return  # a shape that cannot be read: the record goes on without that content


def _message(role: Role, body: dict[str, Any]) -> Message:
    parts: list[Part] = []
    text = _text(body.get("content"))
    if role is Role.TOOL:
        parts.append(Part(PartKind.TOOL_RESULT, tool_call_id=_text(body.get("id")), tool_result_content=text))
    elif text:
        parts.append(Part(PartKind.TEXT, text=text))
    calls = body.get("tool_calls")
    for call in calls if isinstance(calls, list) else []:
        if not isinstance(call, dict):
            continue
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        assert isinstance(function, dict)
        arguments = function.get("arguments")
        parts.append(
            Part(
                PartKind.TOOL_CALL,
                tool_call_id=_text(call.get("id")),
                tool_name=_text(function.get("name")),
                tool_input_json=(
                    arguments.encode() if isinstance(arguments, str) else content.dumps(arguments) if arguments else b""
                ),
            )
        )
    return Message(role=role, parts=parts)


def _text(value: Any) -> str:
    """Event ``content``: a string, or a list of ``{type: text, text}`` parts (Anthropic shape)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(
            item.get("text", "") for item in value if isinstance(item, dict) and isinstance(item.get("text"), str)
        )
    return ""
