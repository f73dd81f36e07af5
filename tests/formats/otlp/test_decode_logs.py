"""OTLP logs with GenAI events -> events keyed to their span -> record content."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.errors import BadInput
from gateway.formats.otlp.decode_logs import (
    GenAiEvent,
    apply_events,
    decode_logs_json,
    decode_logs_protobuf,
    logs_to_events,
)
from gateway.model import PartKind, Record, Role

TRACE = "5b8efff798038103d269b633813fc60c"
SPAN = "eee19b7ec3c1b174"


def log_record(name: str | None, body: Any, *, attr_name: bool = False, span: str = SPAN) -> dict[str, Any]:
    item: dict[str, Any] = {"timeUnixNano": "1795424400000000000", "traceId": TRACE, "spanId": span}
    attributes = [{"key": "gen_ai.system", "value": {"stringValue": "openai"}}]
    if name is not None and attr_name:
        attributes.append({"key": "event.name", "value": {"stringValue": name}})
    elif name is not None:
        item["eventName"] = name
    item["attributes"] = attributes
    if body is not None:
        item["body"] = body
    return item


def request(*records: dict[str, Any]) -> bytes:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "app"}}]}
    return orjson.dumps({"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": list(records)}]}]})


def kv(**fields: Any) -> dict[str, Any]:
    """An OTLP/JSON kvlistValue body."""
    return {"kvlistValue": {"values": [{"key": k, "value": v} for k, v in fields.items()]}}


def test_events_by_event_name_field_and_attribute() -> None:
    body = request(
        log_record("gen_ai.user.message", kv(content={"stringValue": "hi"})),
        log_record("gen_ai.choice", kv(index={"intValue": "0"}), attr_name=True),
        log_record(None, {"stringValue": "GET /health 200"}),
        log_record("gen_ai.user.message", kv(content={"stringValue": "x"}), span=""),
    )
    request_pb = decode_logs_json(body)
    assert decode_logs_protobuf(request_pb.SerializeToString()) == request_pb
    events, other = logs_to_events(request_pb)
    assert other == 2  # not GenAI, and GenAI without a span to join
    assert [(e.name, e.trace_id, e.span_id, e.service) for e in events] == [
        ("gen_ai.user.message", TRACE, SPAN, "app"),
        ("gen_ai.choice", TRACE, SPAN, "app"),
    ]
    assert events[0].body == {"content": "hi"} and "event.name" not in events[1].attributes


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "invalid JSON: "),
        (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"spanId": "xyz"}]}]}]}', "resourceLogs[0].scopeLogs[0]"),
    ],
)
def test_bad_json_names_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(BadInput, match=message.replace("[", r"\[").replace("]", r"\]")):
        decode_logs_json(body)


def test_bad_protobuf() -> None:
    with pytest.raises(BadInput, match="invalid protobuf ExportLogsServiceRequest"):
        decode_logs_protobuf(b"\x0a\xff\xff\xff\xff garbage")


def event(name: str, body: Any = None, t: int = 0, attributes: dict[str, Any] | None = None) -> GenAiEvent:
    return GenAiEvent(TRACE, SPAN, name, t, body, attributes or {})


def test_deprecated_message_events_fill_the_record() -> None:
    record = Record()
    calls = [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"c":1}'}}]
    apply_events(
        record,
        [
            event("gen_ai.choice", {"index": 0, "finish_reason": "tool_calls", "message": {"tool_calls": calls}}, 5),
            event("gen_ai.system.message", {"content": "Be brief."}, 1),
            event("gen_ai.user.message", {"content": [{"type": "text", "text": "Weather?"}]}, 2),
            event("gen_ai.assistant.message", {"tool_calls": calls}, 3),
            event("gen_ai.tool.message", {"content": "18C", "id": "call_1"}, 4),
        ],
    )
    assert record.system_prompt == "Be brief."
    assert [m.role for m in record.input] == [Role.USER, Role.ASSISTANT, Role.TOOL]
    assert record.input[0].parts[0].text == "Weather?"
    assert record.input[2].parts[0].kind is PartKind.TOOL_RESULT and record.input[2].parts[0].tool_call_id == "call_1"
    (call,) = record.output[0].parts
    assert (call.kind, call.tool_name, call.tool_input_json) == (PartKind.TOOL_CALL, "get_weather", b'{"c":1}')
    assert record.stop_reason == "tool_calls"


def test_operation_details_event_carries_the_content_attributes() -> None:
    record = Record()
    out = '[{"role":"assistant","parts":[{"type":"text","content":"ok"}],"finish_reason":"stop"}]'
    apply_events(
        record,
        [
            event(
                "gen_ai.client.inference.operation.details",
                attributes={
                    "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}],
                    "gen_ai.output.messages": out,
                    "gen_ai.system_instructions": '[{"type":"text","content":"sys"}]',
                    "gen_ai.tool.definitions": '[{"type":"function","name":"f","parameters":{"type":"object"}}]',
                },
            )
        ],
    )
    assert record.input[0].parts[0].text == "hi" and record.output[0].parts[0].text == "ok"
    assert (record.system_prompt, record.stop_reason, record.tools[0].name) == ("sys", "stop", "f")


def test_content_on_the_span_wins() -> None:
    record = Record(stop_reason="length")
    apply_events(record, [event("gen_ai.choice", {"index": 0, "finish_reason": "stop", "message": {"content": "a"}})])
    assert record.stop_reason == "length" and record.output[0].parts[0].text == "a"
