"""OTLP/JSON for trace export requests, written by hand.

``google.protobuf.json_format`` does not follow OTLP's JSON rules: it reads ids as base64 (32 hex
characters are valid base64 and silently decode to 24 wrong bytes), writes enums as names and is
slow. The rules applied here (OTLP spec v1.11.0):

* ``traceId`` / ``spanId`` / ``parentSpanId`` are hex (any case); ``bytesValue`` stays base64.
* enums are integers; for leniency the proto enum names are also read (never written).
* keys are lowerCamelCase; snake_case keys are read too, as the Collector's decoder does.
* 64-bit integers are decimal strings or numbers on input and strings on output.
* unknown fields and ``null`` values are ignored.

Every problem raises :class:`OtlpDecodeError` with the JSON path of the offending value.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Mapping
from typing import Any

import orjson
from google.protobuf.internal.containers import RepeatedCompositeFieldContainer
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from gateway.errors import BadInput
from gateway.formats.otlp.values import SPAN_ID_SIZE, TRACE_ID_SIZE


class OtlpDecodeError(BadInput):
    """The payload is not a valid OTLP export request (the sender's fault: answer 400)."""


_DECIMAL = re.compile(r"-?[0-9]+")
_SPAN_KINDS = dict(Span.SpanKind.items())
_STATUS_CODES = dict(Status.StatusCode.items())


def decode_traces_json(body: bytes) -> ExportTraceServiceRequest:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OtlpDecodeError(f"invalid JSON: {exc}") from None
    request = ExportTraceServiceRequest()
    obj = _obj(data, "$")
    for i, rs_data in _items(obj, "resourceSpans", "resource_spans", "$"):
        path = f"resourceSpans[{i}]"
        rs = request.resource_spans.add()
        rs_obj = _obj(rs_data, path)
        if (resource := _get(rs_obj, "resource", "resource")) is not None:
            _resource(rs.resource, _obj(resource, f"{path}.resource"), f"{path}.resource")
        rs.schema_url = _str_field(rs_obj, "schemaUrl", "schema_url", path)
        for j, ss_data in _items(rs_obj, "scopeSpans", "scope_spans", path):
            ss_path = f"{path}.scopeSpans[{j}]"
            ss = rs.scope_spans.add()
            ss_obj = _obj(ss_data, ss_path)
            if (scope := _get(ss_obj, "scope", "scope")) is not None:
                _scope(ss.scope, _obj(scope, f"{ss_path}.scope"), f"{ss_path}.scope")
            ss.schema_url = _str_field(ss_obj, "schemaUrl", "schema_url", ss_path)
            for k, span_data in _items(ss_obj, "spans", "spans", ss_path):
                span_path = f"{ss_path}.spans[{k}]"
                _span(ss.spans.add(), _obj(span_data, span_path), span_path)
    return request


def _span(span: Span, obj: dict[str, Any], path: str) -> None:
    span.trace_id = _id(obj, "traceId", "trace_id", TRACE_ID_SIZE, path)
    span.span_id = _id(obj, "spanId", "span_id", SPAN_ID_SIZE, path)
    span.parent_span_id = _id(obj, "parentSpanId", "parent_span_id", SPAN_ID_SIZE, path)
    span.trace_state = _str_field(obj, "traceState", "trace_state", path)
    span.flags = _int_field(obj, "flags", "flags", path, 0, 2**32 - 1)
    span.name = _str_field(obj, "name", "name", path)
    if (kind := _get(obj, "kind", "kind")) is not None:
        span.kind = _enum(kind, _SPAN_KINDS, f"{path}.kind")  # type: ignore[assignment]
    span.start_time_unix_nano = _int_field(obj, "startTimeUnixNano", "start_time_unix_nano", path, 0, 2**64 - 1)
    span.end_time_unix_nano = _int_field(obj, "endTimeUnixNano", "end_time_unix_nano", path, 0, 2**64 - 1)
    _attributes(span.attributes, obj, path)
    span.dropped_attributes_count = _count(obj, "droppedAttributesCount", "dropped_attributes_count", path)
    for i, ev_data in _items(obj, "events", "events", path):
        ev_path = f"{path}.events[{i}]"
        ev_obj = _obj(ev_data, ev_path)
        event = span.events.add()
        event.time_unix_nano = _int_field(ev_obj, "timeUnixNano", "time_unix_nano", ev_path, 0, 2**64 - 1)
        event.name = _str_field(ev_obj, "name", "name", ev_path)
        _attributes(event.attributes, ev_obj, ev_path)
        event.dropped_attributes_count = _count(ev_obj, "droppedAttributesCount", "dropped_attributes_count", ev_path)
    span.dropped_events_count = _count(obj, "droppedEventsCount", "dropped_events_count", path)
    for i, link_data in _items(obj, "links", "links", path):
        link_path = f"{path}.links[{i}]"
        link_obj = _obj(link_data, link_path)
        link = span.links.add()
        link.trace_id = _id(link_obj, "traceId", "trace_id", TRACE_ID_SIZE, link_path)
        link.span_id = _id(link_obj, "spanId", "span_id", SPAN_ID_SIZE, link_path)
        link.trace_state = _str_field(link_obj, "traceState", "trace_state", link_path)
        _attributes(link.attributes, link_obj, link_path)
        link.dropped_attributes_count = _count(
            link_obj, "droppedAttributesCount", "dropped_attributes_count", link_path
        )
        link.flags = _int_field(link_obj, "flags", "flags", link_path, 0, 2**32 - 1)
    span.dropped_links_count = _count(obj, "droppedLinksCount", "dropped_links_count", path)
    # Status is always present, as the SDKs and the Collector send it; JSON leaves an UNSET one out.
    span.status.SetInParent()
    if (status := _get(obj, "status", "status")) is not None:
        st_obj = _obj(status, f"{path}.status")
        span.status.message = _str_field(st_obj, "message", "message", f"{path}.status")
        if (code := _get(st_obj, "code", "code")) is not None:
            span.status.code = _enum(code, _STATUS_CODES, f"{path}.status.code")  # type: ignore[assignment]


def _resource(resource: Resource, obj: dict[str, Any], path: str) -> None:
    _attributes(resource.attributes, obj, path)
    resource.dropped_attributes_count = _count(obj, "droppedAttributesCount", "dropped_attributes_count", path)


def _scope(scope: InstrumentationScope, obj: dict[str, Any], path: str) -> None:
    scope.name = _str_field(obj, "name", "name", path)
    scope.version = _str_field(obj, "version", "version", path)
    _attributes(scope.attributes, obj, path)
    scope.dropped_attributes_count = _count(obj, "droppedAttributesCount", "dropped_attributes_count", path)


def _attributes(target: RepeatedCompositeFieldContainer[KeyValue], obj: dict[str, Any], path: str) -> None:
    for i, kv_data in _items(obj, "attributes", "attributes", path):
        _key_value(target.add(), kv_data, f"{path}.attributes[{i}]")


def _key_value(kv: KeyValue, data: Any, path: str) -> None:
    obj = _obj(data, path)
    kv.key = _str_field(obj, "key", "key", path)
    if (value := obj.get("value")) is not None:
        _any_value(kv.value, value, f"{path}.value")


def _any_value(target: AnyValue, data: Any, path: str) -> None:
    obj = _obj(data, path)
    if (v := _get(obj, "stringValue", "string_value")) is not None:
        target.string_value = _str(v, f"{path}.stringValue")
    elif (v := _get(obj, "boolValue", "bool_value")) is not None:
        if not isinstance(v, bool):
            raise OtlpDecodeError(f"{path}.boolValue: expected true or false, got {_show(v)}")
        target.bool_value = v
    elif (v := _get(obj, "intValue", "int_value")) is not None:
        target.int_value = _int(v, f"{path}.intValue", -(2**63), 2**63 - 1)
    elif (v := _get(obj, "doubleValue", "double_value")) is not None:
        target.double_value = _double(v, f"{path}.doubleValue")
    elif (v := _get(obj, "arrayValue", "array_value")) is not None:
        array = target.array_value
        array.SetInParent()
        for i, item in _items(_obj(v, f"{path}.arrayValue"), "values", "values", f"{path}.arrayValue"):
            _any_value(array.values.add(), item, f"{path}.arrayValue.values[{i}]")
    elif (v := _get(obj, "kvlistValue", "kvlist_value")) is not None:
        kvlist = target.kvlist_value
        kvlist.SetInParent()
        for i, item in _items(_obj(v, f"{path}.kvlistValue"), "values", "values", f"{path}.kvlistValue"):
            _key_value(kvlist.values.add(), item, f"{path}.kvlistValue.values[{i}]")
    elif (v := _get(obj, "bytesValue", "bytes_value")) is not None:
        target.bytes_value = _base64(v, f"{path}.bytesValue")


# --- scalar readers -----------------------------------------------------------------------------


def _get(obj: dict[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise OtlpDecodeError(f"{path}: expected an object, got {_show(value)}")
    return value


def _items(obj: dict[str, Any], camel: str, snake: str, path: str) -> list[tuple[int, Any]]:
    value = _get(obj, camel, snake)
    if value is None:
        return []
    if not isinstance(value, list):
        raise OtlpDecodeError(f"{path}.{camel}: expected an array, got {_show(value)}")
    return list(enumerate(value))


def _str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise OtlpDecodeError(f"{path}: expected a string, got {_show(value)}")
    return value


def _str_field(obj: dict[str, Any], camel: str, snake: str, path: str) -> str:
    value = _get(obj, camel, snake)
    return "" if value is None else _str(value, f"{path}.{camel}")


def _int(value: Any, path: str, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise OtlpDecodeError(f"{path}: expected an integer, got {_show(value)}")
    if isinstance(value, int):
        number = value
    elif (isinstance(value, float) and value.is_integer()) or (isinstance(value, str) and _DECIMAL.fullmatch(value)):
        number = int(value)
    else:
        raise OtlpDecodeError(f"{path}: expected an integer or a decimal string, got {_show(value)}")
    if not low <= number <= high:
        raise OtlpDecodeError(f"{path}: {number} is out of range [{low}, {high}]")
    return number


def _int_field(obj: dict[str, Any], camel: str, snake: str, path: str, low: int, high: int) -> int:
    value = _get(obj, camel, snake)
    return 0 if value is None else _int(value, f"{path}.{camel}", low, high)


def _count(obj: dict[str, Any], camel: str, snake: str, path: str) -> int:
    return _int_field(obj, camel, snake, path, 0, 2**32 - 1)


def _double(value: Any, path: str) -> float:
    if isinstance(value, bool):
        raise OtlpDecodeError(f"{path}: expected a number, got {_show(value)}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):  # proto3 JSON spells the non-finite values as strings
        special = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(value)
        if special is not None:
            return special
        try:
            return float(value)
        except ValueError:
            pass
    raise OtlpDecodeError(f"{path}: expected a number, got {_show(value)}")


def _enum(value: Any, names: Mapping[str, int], path: str) -> int:
    if isinstance(value, str) and value in names:
        return names[value]
    if isinstance(value, int) and not isinstance(value, bool):
        return _int(value, path, -(2**31), 2**31 - 1)
    raise OtlpDecodeError(f"{path}: expected an enum integer, got {_show(value)}")


def _id(obj: dict[str, Any], camel: str, snake: str, size: int, path: str) -> bytes:
    value = _get(obj, camel, snake)
    if value is None or value == "":
        return b""
    text = _str(value, f"{path}.{camel}")
    if len(text) != size * 2:
        raise OtlpDecodeError(f"{path}.{camel}: expected {size * 2} hex characters, got {len(text)} ({_show(text)})")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != size:  # fromhex skips whitespace, so check the length it produced too
        raise OtlpDecodeError(f"{path}.{camel}: not a hex id: {_show(text)}")
    return raw


def _base64(value: Any, path: str) -> bytes:
    text = _str(value, path)
    padded = text + "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise OtlpDecodeError(f"{path}: invalid base64") from None


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


# --- encoding -----------------------------------------------------------------------------------


def encode_traces_json(request: ExportTraceServiceRequest) -> bytes:
    resource_spans = []
    for rs in request.resource_spans:
        scope_spans = []
        for ss in rs.scope_spans:
            item: dict[str, Any] = {}
            if ss.HasField("scope"):
                item["scope"] = drop_empty(
                    {
                        "name": ss.scope.name,
                        "version": ss.scope.version,
                        "attributes": attributes_json(ss.scope.attributes),
                        "droppedAttributesCount": ss.scope.dropped_attributes_count,
                    }
                )
            item["spans"] = [_enc_span(span) for span in ss.spans]
            item["schemaUrl"] = ss.schema_url
            scope_spans.append(drop_empty(item))
        rs_item: dict[str, Any] = {}
        if rs.HasField("resource"):
            rs_item["resource"] = drop_empty(
                {
                    "attributes": attributes_json(rs.resource.attributes),
                    "droppedAttributesCount": rs.resource.dropped_attributes_count,
                }
            )
        rs_item["scopeSpans"] = scope_spans
        rs_item["schemaUrl"] = rs.schema_url
        resource_spans.append(drop_empty(rs_item))
    return orjson.dumps({"resourceSpans": resource_spans})


def _enc_span(span: Span) -> dict[str, Any]:
    item: dict[str, Any] = {
        "traceId": span.trace_id.hex(),
        "spanId": span.span_id.hex(),
        "traceState": span.trace_state,
        "parentSpanId": span.parent_span_id.hex(),
        "flags": span.flags,
        "name": span.name,
        "kind": int(span.kind),
        "startTimeUnixNano": _u64(span.start_time_unix_nano),
        "endTimeUnixNano": _u64(span.end_time_unix_nano),
        "attributes": attributes_json(span.attributes),
        "droppedAttributesCount": span.dropped_attributes_count,
        "events": [
            drop_empty(
                {
                    "timeUnixNano": _u64(e.time_unix_nano),
                    "name": e.name,
                    "attributes": attributes_json(e.attributes),
                    "droppedAttributesCount": e.dropped_attributes_count,
                }
            )
            for e in span.events
        ],
        "droppedEventsCount": span.dropped_events_count,
        "links": [
            drop_empty(
                {
                    "traceId": link.trace_id.hex(),
                    "spanId": link.span_id.hex(),
                    "traceState": link.trace_state,
                    "attributes": attributes_json(link.attributes),
                    "droppedAttributesCount": link.dropped_attributes_count,
                    "flags": link.flags,
                }
            )
            for link in span.links
        ],
        "droppedLinksCount": span.dropped_links_count,
    }
    # An UNSET status without a message is left out, like any default value.
    if status := drop_empty({"message": span.status.message, "code": int(span.status.code)}):
        item["status"] = status
    return drop_empty(item)


def attributes_json(attributes: RepeatedCompositeFieldContainer[KeyValue]) -> list[dict[str, Any]]:
    return [{"key": kv.key, "value": _enc_any(kv.value)} for kv in attributes]


def _enc_any(value: AnyValue) -> dict[str, Any]:
    which = value.WhichOneof("value")
    if which == "string_value":
        return {"stringValue": value.string_value}
    if which == "bool_value":
        return {"boolValue": value.bool_value}
    if which == "int_value":
        return {"intValue": str(value.int_value)}
    if which == "double_value":
        d = value.double_value
        return {"doubleValue": d if math.isfinite(d) else ("NaN" if math.isnan(d) else _inf(d))}
    if which == "array_value":
        return {"arrayValue": {"values": [_enc_any(v) for v in value.array_value.values]}}
    if which == "kvlist_value":
        return {"kvlistValue": {"values": attributes_json(value.kvlist_value.values)}}
    if which == "bytes_value":
        return {"bytesValue": base64.b64encode(value.bytes_value).decode()}
    return {}


def _inf(d: float) -> str:
    return "Infinity" if d > 0 else "-Infinity"


def _u64(value: int) -> str:
    return str(value) if value else ""


def drop_empty(item: dict[str, Any]) -> dict[str, Any]:
    # proto3 JSON leaves default values out; "" also stands for a zero 64-bit integer here.
    return {k: v for k, v in item.items() if v not in ("", 0, None) and v != []}


def decode_traces_protobuf(body: bytes) -> ExportTraceServiceRequest:
    """A binary trace export body; fields newer than the generated classes are skipped."""
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise OtlpDecodeError(f"invalid protobuf ExportTraceServiceRequest: {exc}") from None
    return request


def encode_metrics_json(request: ExportMetricsServiceRequest) -> bytes:
    """OTLP/JSON of a metrics export request holding histograms (what :class:`MetricsAggregator`
    builds): lowerCamelCase keys, integer enums, 64-bit integers as decimal strings.

    Raises ValueError for other metric types, rather than silently sending them empty."""
    resource_metrics: list[dict[str, Any]] = []
    for rm in request.resource_metrics:
        scope_metrics: list[dict[str, Any]] = []
        for sm in rm.scope_metrics:
            metrics = [_metric_json(metric) for metric in sm.metrics]
            scope = drop_empty({"name": sm.scope.name, "version": sm.scope.version})
            scope_metrics.append(drop_empty({"scope": scope, "metrics": metrics, "schemaUrl": sm.schema_url}))
        resource = drop_empty({"attributes": attributes_json(rm.resource.attributes)})
        resource_metrics.append(
            drop_empty({"resource": resource, "scopeMetrics": scope_metrics, "schemaUrl": rm.schema_url})
        )
    return orjson.dumps({"resourceMetrics": resource_metrics})


def _metric_json(metric: Metric) -> dict[str, Any]:
    if metric.WhichOneof("data") != "histogram":
        raise ValueError(f"metric {metric.name!r}: only histograms can be written as OTLP/JSON here")
    points = []
    for p in metric.histogram.data_points:
        point: dict[str, Any] = {
            "attributes": attributes_json(p.attributes),
            "startTimeUnixNano": str(p.start_time_unix_nano),
            "timeUnixNano": str(p.time_unix_nano),
            "count": str(p.count),
            # Every bucket, zeros included: the list's length is part of the meaning.
            "bucketCounts": [str(c) for c in p.bucket_counts],
            "explicitBounds": list(p.explicit_bounds),
        }
        # Optional doubles: present (even when 0) exactly when set.
        for name in ("sum", "min", "max"):
            if p.HasField(name):
                point[name] = getattr(p, name)
        if p.flags:
            point["flags"] = p.flags
        points.append(point)
    histogram = {"dataPoints": points, "aggregationTemporality": int(metric.histogram.aggregation_temporality)}
    return drop_empty(
        {"name": metric.name, "description": metric.description, "unit": metric.unit, "histogram": histogram}
    )
