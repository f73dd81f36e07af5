"""The OTLP reader's per-name dispatch: what it remembers about a name (its action, the AnyValue
field its last value came in) must never change what a span reads as."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from gateway.formats.otlp import decode, traces_to_records
from gateway.formats.otlp.semconv import DEFAULT
from gateway.formats.otlp.values import set_any
from gateway.model import Kind

# One name, values of every type in turn: the field guessed from the value before is wrong for
# most of them, and the defaults ("", 0, False, 0.0, b"") are where a guess cannot tell.
VALUES: list[Any] = ["a", 3, "", 0, True, False, 2.5, 0.0, -1, b"\x01", b"", ["x", 1], {"k": "v"}, None, "b", 7]


def request_of(spans: list[dict[str, Any]]) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    ss = request.resource_spans.add().scope_spans.add()
    for i, attributes in enumerate(spans):
        span = ss.spans.add(trace_id=b"\x01" * 16, span_id=(i + 1).to_bytes(8, "big"), name="chat")
        for key, value in attributes.items():
            set_any(span.attributes.add(key=key).value, value)
    return request


def exactly(value: Any) -> Any:
    """A value with its type, so that True and 1, or 0 and 0.0, do not compare equal."""
    if isinstance(value, list):
        return [exactly(item) for item in value]
    if isinstance(value, dict):
        return {key: exactly(item) for key, item in value.items()}
    return (type(value), value)


def test_a_name_whose_values_change_type_from_span_to_span() -> None:
    spans = [
        {"gen_ai.operation.name": "chat", "app.setting": value, "gen_ai.request.max_tokens": value} for value in VALUES
    ]
    records, _ = traces_to_records(request_of(spans))
    for record, value in zip(records, VALUES, strict=True):
        assert exactly(record.extra["otlp.attr.app.setting"]) == exactly(value)
        if type(value) is int:  # the field takes ints only (not bools); anything else stays in extra
            assert (record.max_tokens, "otlp.attr.gen_ai.request.max_tokens" in record.extra) == (value, False)
        else:
            assert record.max_tokens is None
            assert exactly(record.extra["otlp.attr.gen_ai.request.max_tokens"]) == exactly(value)


def test_names_outside_the_tables_are_remembered_up_to_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decode, "MAX_LEARNT_NAMES", 4)
    reader = decode._Reader(DEFAULT)
    monkeypatch.setattr(decode, "_reader", lambda semconv: reader)
    known = len(reader.actions)
    spans = [{"gen_ai.operation.name": "chat", f"app.n{i}": i, "gateway.tag.t": f"v{i}"} for i in range(20)]
    records, _ = traces_to_records(request_of(spans))
    assert [r.extra[f"otlp.attr.app.n{i}"] for i, r in enumerate(records)] == list(range(20))
    assert [r.tags for r in records] == [{"t": f"v{i}"} for i in range(20)]
    assert len(reader.actions) <= known + 4
    assert "gen_ai.operation.name" in reader.actions  # the tables' own names are never forgotten


def test_openinference_span_kind_after_other_attributes() -> None:
    # The OpenInference reader goes first wherever its marker is; the GenAI names still win.
    attributes = {"gen_ai.request.model": "b", "llm.model_name": "a", "llm.token_count.prompt": 5}
    first, _ = traces_to_records(request_of([{"openinference.span.kind": "LLM", **attributes}]))
    last, _ = traces_to_records(request_of([{**attributes, "openinference.span.kind": "LLM"}]))
    assert first == last
    assert (last[0].kind, last[0].model, last[0].usage.input_tokens) == (Kind.LLM, "b", 5)


@pytest.mark.parametrize("value", [b"\x00\x01", {"blob": b"\x00"}])
def test_tool_arguments_that_are_no_json_stay_in_extra(value: Any) -> None:
    # Bytes (alone or inside a kvlist) have no JSON form: kept as they came, not a crash.
    spans = [{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.call.arguments": value}]
    (record,), _ = traces_to_records(request_of(spans))
    assert record.tool_arguments_json == b""
    assert record.extra["otlp.attr.gen_ai.tool.call.arguments"] == value
