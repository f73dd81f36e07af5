"""OTLP/JSON: hex ids, integer enums, 64-bit integers as strings, unknown fields, and errors."""

from __future__ import annotations

import base64
import math
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from gateway.formats.otlp import OtlpDecodeError, decode_traces_json, decode_traces_protobuf, encode_traces_json
from gateway.formats.otlp.values import set_any
from tests.formats.otlp.test_encode import PARENT_HEX, SPAN_HEX, T0, TRACE_HEX, attrs, chat_record, emit, only_span

JSON_BODY = {
    "resourceSpans": [
        {
            "resource": {
                "attributes": [{"key": "service.name", "value": {"stringValue": "my-app"}}],
                "entityRefs": [{"type": "service"}],  # newer than the generated classes: ignored
            },
            "scopeSpans": [
                {
                    "scope": {"name": "my.instrumentation", "version": "1.0"},
                    "spans": [
                        {
                            "traceId": TRACE_HEX.upper(),
                            "spanId": SPAN_HEX,
                            "parentSpanId": "",
                            "name": "chat gpt-4o",
                            "kind": 3,
                            "startTimeUnixNano": str(T0),
                            "endTimeUnixNano": T0 + 5,
                            "attributes": [
                                {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "42"}},
                                {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 7}},
                                {"key": "gen_ai.request.temperature", "value": {"doubleValue": 0.5}},
                                {"key": "gen_ai.request.stream", "value": {"boolValue": True}},
                                {
                                    "key": "gen_ai.response.finish_reasons",
                                    "value": {"arrayValue": {"values": [{"stringValue": "stop"}]}},
                                },
                                {
                                    "key": "m",
                                    "value": {
                                        "kvlistValue": {"values": [{"key": "k", "value": {"bytesValue": "AAE="}}]}
                                    },
                                },
                                {"key": "string_strindex", "value": {"stringValueStrindex": 3}},
                            ],
                            "status": {"code": 2, "message": "boom"},
                            "events": [{"timeUnixNano": "5", "name": "e"}],
                            "links": [{"traceId": TRACE_HEX, "spanId": PARENT_HEX, "flags": 256}],
                            "flags": 257,
                            "someFutureField": {"x": 1},
                        }
                    ],
                    "schemaUrl": "https://opentelemetry.io/schemas/1.41.1",
                }
            ],
        }
    ],
    "unknownTopLevel": True,
}


def test_decode_json_hex_ids_int_enums_and_int64_strings() -> None:
    request = decode_traces_json(orjson.dumps(JSON_BODY))
    span = only_span(request)
    assert span.trace_id == bytes.fromhex(TRACE_HEX)
    assert span.span_id == bytes.fromhex(SPAN_HEX)
    assert span.parent_span_id == b""
    assert span.kind == Span.SPAN_KIND_CLIENT and span.flags == 257
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (T0, T0 + 5)
    assert (span.status.code, span.status.message) == (Status.STATUS_CODE_ERROR, "boom")
    assert attrs(span) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.usage.input_tokens": 42,
        "gen_ai.usage.output_tokens": 7,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.stream": True,
        "gen_ai.response.finish_reasons": ["stop"],
        "m": {"k": b"\x00\x01"},
        "string_strindex": None,  # a value kind the classes do not know: empty
    }
    assert (span.events[0].name, span.events[0].time_unix_nano) == ("e", 5)
    assert (span.links[0].span_id, span.links[0].flags) == (bytes.fromhex(PARENT_HEX), 256)
    assert request.resource_spans[0].scope_spans[0].scope.version == "1.0"


def test_decode_json_does_not_misread_hex_ids_as_base64() -> None:
    body = orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": TRACE_HEX, "spanId": SPAN_HEX}]}]}]})
    ours = only_span(decode_traces_json(body))
    assert ours.trace_id == bytes.fromhex(TRACE_HEX) and len(ours.trace_id) == 16
    # The trap this decoder exists for: proto3 JSON reads the same text as base64.
    theirs = only_span(json_format.Parse(body, ExportTraceServiceRequest(), ignore_unknown_fields=True))
    assert theirs.trace_id == base64.b64decode(TRACE_HEX) and len(theirs.trace_id) == 24


def test_decode_json_is_lenient_where_the_collector_is() -> None:
    body = {
        "resource_spans": [
            {
                "scope_spans": [
                    {"spans": [{"trace_id": TRACE_HEX, "kind": "SPAN_KIND_SERVER", "start_time_unix_nano": 5}]}
                ]
            }
        ]
    }
    span = only_span(decode_traces_json(orjson.dumps(body)))
    assert (span.trace_id, span.kind, span.start_time_unix_nano) == (
        bytes.fromhex(TRACE_HEX),
        Span.SPAN_KIND_SERVER,
        5,
    )
    assert decode_traces_json(b"{}") == ExportTraceServiceRequest()


def spans_body(span: dict[str, Any]) -> bytes:
    return orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "invalid JSON: "),
        (b"{not json", "invalid JSON: "),
        (b"[]", "$: expected an object, got list"),
        (orjson.dumps({"resourceSpans": {}}), "$.resourceSpans: expected an array, got dict"),
        (
            spans_body({"traceId": "abc"}),
            "resourceSpans[0].scopeSpans[0].spans[0].traceId: expected 32 hex characters, got 3 ('abc')",
        ),
        (
            spans_body({"spanId": "zzzzzzzzzzzzzzzz"}),
            "resourceSpans[0].scopeSpans[0].spans[0].spanId: not a hex id: 'zzzzzzzzzzzzzzzz'",
        ),
        (
            spans_body({"traceId": base64.b64encode(bytes(16)).decode()}),
            "resourceSpans[0].scopeSpans[0].spans[0].traceId: "
            "expected 32 hex characters, got 24 ('AAAAAAAAAAAAAAAAAAAAAA==')",
        ),
        (
            spans_body({"startTimeUnixNano": "-1"}),
            "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: -1 is out of range [0, 18446744073709551615]",
        ),
        (
            spans_body({"endTimeUnixNano": "12abc"}),
            "resourceSpans[0].scopeSpans[0].spans[0].endTimeUnixNano: "
            "expected an integer or a decimal string, got '12abc'",
        ),
        (
            spans_body({"kind": "CLIENT"}),
            "resourceSpans[0].scopeSpans[0].spans[0].kind: expected an enum integer, got 'CLIENT'",
        ),
        (
            spans_body({"attributes": [{"key": "a", "value": {"boolValue": "true"}}]}),
            "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.boolValue: expected true or false, got 'true'",
        ),
        (
            spans_body({"attributes": [{"key": "a", "value": {"intValue": 1.5}}]}),
            "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue: "
            "expected an integer or a decimal string, got 1.5",
        ),
        (
            spans_body({"attributes": [{"key": "a", "value": {"bytesValue": "!!"}}]}),
            "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.bytesValue: invalid base64",
        ),
        (spans_body({"name": 5}), "resourceSpans[0].scopeSpans[0].spans[0].name: expected a string, got 5"),
        (
            spans_body({"status": {"code": 2**40}}),
            "resourceSpans[0].scopeSpans[0].spans[0].status.code: "
            "1099511627776 is out of range [-2147483648, 2147483647]",
        ),
    ],
)
def test_decode_json_errors_name_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(OtlpDecodeError) as info:
        decode_traces_json(body)
    assert str(info.value).startswith(message) if message.endswith(": ") else str(info.value) == message


def test_encode_json_follows_otlp_rules() -> None:
    request = emit(chat_record(), include_content=False)
    span = only_span(request)
    span.events.add(name="e", time_unix_nano=1)
    set_any(span.attributes.add(key="nan").value, math.nan)
    set_any(span.attributes.add(key="raw").value, b"\x00\xff")
    body = orjson.loads(encode_traces_json(request))
    encoded = body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert encoded["traceId"] == TRACE_HEX and encoded["spanId"] == SPAN_HEX and encoded["parentSpanId"] == PARENT_HEX
    assert encoded["kind"] == 3
    assert encoded["startTimeUnixNano"] == str(T0)
    assert "status" not in encoded  # UNSET: default values are left out
    by_key = {a["key"]: a["value"] for a in encoded["attributes"]}
    assert by_key["gen_ai.usage.input_tokens"] == {"intValue": "140"}
    assert by_key["gen_ai.request.temperature"] == {"doubleValue": 0.2}
    assert by_key["nan"] == {"doubleValue": "NaN"}
    assert by_key["raw"] == {"bytesValue": "AP8="}
    assert by_key["gen_ai.response.finish_reasons"] == {"arrayValue": {"values": [{"stringValue": "tool_call"}]}}
    assert encoded["events"] == [{"timeUnixNano": "1", "name": "e"}]
    decoded = decode_traces_json(encode_traces_json(request))
    assert decoded.SerializeToString(deterministic=True) == request.SerializeToString(deterministic=True)


def test_decode_protobuf() -> None:
    request = emit(chat_record())
    assert decode_traces_protobuf(request.SerializeToString()) == request
    with pytest.raises(OtlpDecodeError, match=r"^invalid protobuf ExportTraceServiceRequest"):
        decode_traces_protobuf(b"\x0a\xff\xff\xff")
