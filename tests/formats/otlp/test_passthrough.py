"""Spans without GenAI attributes, passed through as records of kind OTHER: the same span comes out."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from gateway.formats.otlp import PASSTHROUGH, is_passthrough, records_to_traces, traces_to_records
from gateway.formats.otlp.values import attributes_to_dict, set_any
from gateway.model import Kind
from gateway.model import Status as RecordStatus
from tests.formats.otlp.test_decode import make_request
from tests.formats.otlp.test_encode import PARENT_HEX, SPAN_HEX, T0, TRACE_HEX

LINKED_TRACE = "0af7651916cd43dd8448eb211c80319c"


def http_server_request(extra_attributes: dict[str, object] | None = None) -> ExportTraceServiceRequest:
    """An ordinary web-framework span: no gen_ai attribute, every span feature used."""
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add(schema_url="https://opentelemetry.io/schemas/1.26.0")
    for key, value in {"service.name": "shop", "host.name": "web-1", "process.pid": 4242}.items():
        set_any(rs.resource.attributes.add(key=key).value, value)
    ss = rs.scope_spans.add(schema_url="https://opentelemetry.io/schemas/1.11.0")
    ss.scope.name, ss.scope.version = "opentelemetry.instrumentation.flask", "0.48b0"
    span = ss.spans.add(
        trace_id=bytes.fromhex(TRACE_HEX),
        span_id=bytes.fromhex(SPAN_HEX),
        parent_span_id=bytes.fromhex(PARENT_HEX),
        trace_state="vendor=abc",
        flags=0x101,
        name="GET /checkout",
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=T0,
        end_time_unix_nano=T0 + 42_000_000,
        dropped_attributes_count=3,
        dropped_events_count=1,
        dropped_links_count=2,
    )
    attributes: dict[str, object] = {
        "http.request.method": "GET",
        "http.response.status_code": 500,
        "url.path": "/checkout",
        "server.port": 8080,
        "sampling.ratio": 0.25,
        "feature.flags": ["a", "b"],
        "request.body": b"\x00\x01",
        "custom.map": {"k": [1, 2.5, True]},
        **(extra_attributes or {}),
    }
    for key, value in attributes.items():
        set_any(span.attributes.add(key=key).value, value)
    event = span.events.add(name="exception", time_unix_nano=T0 + 1_000)
    set_any(event.attributes.add(key="exception.type").value, "ValueError")
    link = span.links.add(trace_id=bytes.fromhex(LINKED_TRACE), span_id=bytes.fromhex(SPAN_HEX), flags=1)
    set_any(link.attributes.add(key="link.reason").value, "retry")
    span.status.code = Status.STATUS_CODE_ERROR
    span.status.message = "boom"
    return request


def test_without_passthrough_non_genai_spans_are_only_counted() -> None:
    records, other = traces_to_records(http_server_request())
    assert records == [] and other == 1


def test_passthrough_gives_back_the_same_span() -> None:
    original = http_server_request()
    (record,), other = traces_to_records(original, passthrough=True)
    assert other == 1
    assert record.kind is Kind.OTHER and is_passthrough(record) and record.extra[PASSTHROUGH] is True
    assert record.status is RecordStatus.ERROR and record.error_message == "boom"

    out = records_to_traces([record], resource_attributes={"deployment.region": "eu"}, include_content=True)
    (rs,) = out.resource_spans
    (ss,) = rs.scope_spans
    (span,) = ss.spans
    assert span == original.resource_spans[0].scope_spans[0].spans[0]
    assert ss.scope == original.resource_spans[0].scope_spans[0].scope
    assert ss.schema_url == original.resource_spans[0].scope_spans[0].schema_url
    assert rs.schema_url == original.resource_spans[0].schema_url
    # Configured resource attributes come under the span's own (the documented precedence).
    assert attributes_to_dict(rs.resource.attributes) == {
        "service.name": "shop",
        "host.name": "web-1",
        "process.pid": 4242,
        "deployment.region": "eu",
    }


def test_passthrough_attributes_with_record_fields_come_back_unchanged() -> None:
    # user.id, session.id and error.type fill record fields; no gen_ai name may be added.
    original = http_server_request({"user.id": "u-1", "session.id": "s-1", "error.type": "ValueError"})
    (record,), _ = traces_to_records(original, passthrough=True)
    assert (record.user_id, record.session_id, record.error_type) == ("u-1", "s-1", "ValueError")
    out = records_to_traces([record], resource_attributes={}, include_content=False)
    span = out.resource_spans[0].scope_spans[0].spans[0]
    want = original.resource_spans[0].scope_spans[0].spans[0]
    assert attributes_to_dict(span.attributes) == attributes_to_dict(want.attributes)
    del span.attributes[:]
    del want.attributes[:]
    assert span == want


def test_failed_span_without_error_type_gets_none_added() -> None:
    (record,), _ = traces_to_records(http_server_request(), passthrough=True)
    span = records_to_traces([record], resource_attributes={}, include_content=True).resource_spans[0]
    assert "error.type" not in attributes_to_dict(span.scope_spans[0].spans[0].attributes)


def test_genai_spans_in_the_same_request_are_ordinary_records() -> None:
    request = http_server_request()
    request.resource_spans.extend(make_request({"gen_ai.operation.name": "chat"}).resource_spans)
    records, other = traces_to_records(request, passthrough=True)
    assert other == 1
    assert [(r.kind, is_passthrough(r)) for r in records] == [(Kind.OTHER, True), (Kind.LLM, False)]
    # A GenAI record keeps the conventions' additions (here none are needed, but no marker).
    assert PASSTHROUGH not in records[1].extra
