"""The OTLP pass-through (``gateway.formats.otlp.native``): whenever :func:`survey` takes a request
as it is, the records path would export the same spans (up to the documented differences of
form, :func:`normalized`); every rule it applies is shown to be needed by a span the records path
does change; and the native itself splits, joins, stores and materializes like the records."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from bench import payloads
from gateway import formats
from gateway.formats import otlp
from gateway.formats.otlp import canonical, native, native_metrics
from gateway.formats.otlp.encode import DEFAULT_SCOPE_NAME
from gateway.formats.otlp.encode_metrics import MetricsAggregator
from gateway.formats.otlp.semconv import DEFAULT
from gateway.model import Kind, Message, Native, Part, PartKind, Record, Role, Usage
from gateway.model import Status as RecordStatus
from tests.formats.record_strategies import messages, short_text, tools, usages
from tests.formats.record_strategies import records as any_records

Request = ExportTraceServiceRequest
Metrics = ExportMetricsServiceRequest | None


def records_export(request: Request, passthrough: bool = False) -> Request:
    """What the records path sends for ``request``: the receiver's decoder (GenAI spans only, or
    the others too with ``passthrough``), then the ``otlp`` exporter's encoder with its default
    settings."""
    records, _ = otlp.traces_to_records(request, passthrough=passthrough)
    return otlp.records_to_traces(records, resource_attributes={}, include_content=True)


def normalized(request: Request) -> list[bytes]:
    """Each span with its resource and scope, compared without what natives keep in another
    form: grouping, attribute order, an empty status."""
    out: list[bytes] = []
    for rs in request.resource_spans:
        resource = sorted(kv.SerializeToString() for kv in rs.resource.attributes)
        for ss in rs.scope_spans:
            for span in ss.spans:
                span = copy.deepcopy(span)
                attributes = sorted(span.attributes, key=lambda kv: kv.key)
                del span.attributes[:]
                span.attributes.extend(attributes)
                if span.status == Status():
                    span.ClearField("status")
                parts = [
                    *resource,
                    rs.schema_url.encode(),
                    ss.scope.SerializeToString(),
                    ss.schema_url.encode(),
                    span.SerializeToString(deterministic=True),
                ]
                out.append(b"\0".join(parts))
    return sorted(out)


def check(request: Request, passthrough: bool = False) -> bool:
    """The rule's promise for one request (the receiver's ``passthrough_non_genai`` as given);
    whether natives were taken. Natives become the same records whichever the setting was."""
    found = native.survey(request, passthrough=passthrough)
    if found is None:
        return False
    assert normalized(request) == normalized(records_export(request, passthrough))
    assert found.spans == sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    assert native_metrics_of(request) == records_metrics_of(request)
    materialized = native.OtlpTraces.of(request, found.spans).materialize()
    assert repr(materialized) == repr(otlp.traces_to_records(request, passthrough=passthrough)[0])  # NaN != NaN
    return True


def records_metrics_of(request: Request) -> Metrics:
    """The metrics an ``otlp`` exporter makes of ``request``'s spans on the records path."""
    aggregator = MetricsAggregator("cumulative", start_time_ns=1)
    aggregator.add(otlp.traces_to_records(request)[0])
    return aggregator.collect(2)


def native_metrics_of(request: Request) -> Metrics:
    """The same, counted from the spans as they are (``native_metrics``)."""
    aggregator = MetricsAggregator("cumulative", start_time_ns=1)
    aggregator.add_points(native_metrics.points(native.OtlpTraces.of(request, 0)))
    return aggregator.collect(2)


def bench_request(n: int = 20) -> Request:
    return Request.FromString(payloads.otlp_body(0, n))


def test_the_bench_spans_go_as_they_are_and_the_records_path_gives_the_same() -> None:
    request = bench_request(100)
    assert check(request)
    # The bench spans are the gateway's own output: the records path gives them back byte for byte.
    assert records_export(request).SerializeToString() == request.SerializeToString()


@given(st.lists(any_records, min_size=1, max_size=3))
def test_generated_records_as_the_gateway_writes_them(records: list[Record]) -> None:
    first = otlp.records_to_traces(records, resource_attributes={"service.name": "app"}, include_content=True)
    check(first)
    # After one hop through the records path, GenAI spans are canonical as a rule.
    second = records_export(first)
    check(second)


def _hex(size: int) -> st.SearchStrategy[str]:
    return st.binary(min_size=size, max_size=size).filter(any).map(bytes.hex)


text_messages = st.lists(
    st.builds(
        Message,
        role=st.sampled_from([Role.USER, Role.ASSISTANT, Role.SYSTEM]),
        parts=st.lists(st.builds(Part, kind=st.just(PartKind.TEXT), text=short_text), max_size=2),
    ),
    max_size=2,
)
# GenAI calls as instrumentations report them: valid ids and times, well-known and odd operation
# and provider spellings, provider finish reasons, text messages or any content.
genai_records = st.builds(
    Record,
    kind=st.sampled_from([Kind.LLM, Kind.EMBEDDING, Kind.TOOL, Kind.AGENT, Kind.WORKFLOW_STEP]),
    id=st.just("") | st.uuids().map(str),
    trace_id=_hex(16),
    span_id=_hex(8),
    parent_span_id=st.just("") | _hex(8),
    name=st.sampled_from(["", "openai.chat", "chat gpt-4o"]),
    operation=st.sampled_from(["", "chat", "embeddings", "execute_tool", "invoke_agent", "generateText", "custom"]),
    provider=st.sampled_from(["", "openai", "anthropic", "OpenAI", "azure.ai.openai"]),
    model=st.sampled_from(["", "gpt-4o", "claude-sonnet-4"]),
    response_model=st.sampled_from(["", "gpt-4o-2024-08-06"]),
    response_id=st.sampled_from(["", "chatcmpl-1"]),
    conversation_id=short_text,
    tool_name=st.sampled_from(["", "search"]),
    agent_name=st.sampled_from(["", "planner"]),
    stop_reason=st.sampled_from(["", "stop", "end_turn", "length", "tool_calls"]),
    start_ns=st.integers(1, 2**61),
    end_ns=st.integers(2**61, 2**62),
    status=st.sampled_from([RecordStatus.OK, RecordStatus.OK, RecordStatus.ERROR, RecordStatus.TIMEOUT]),
    error_type=st.sampled_from(["", "timeout", "RateLimitError"]),
    error_message=st.sampled_from(["", "429 Too Many Requests"]),
    system_prompt=short_text,
    input=st.one_of(text_messages, messages),
    output=st.one_of(text_messages, messages),
    tools=st.just([]) | tools,
    usage=st.one_of(st.builds(Usage, input_tokens=st.integers(0, 9999), output_tokens=st.integers(0, 999)), usages),
    temperature=st.none() | st.floats(0, 2),
    max_tokens=st.none() | st.integers(1, 4096),
    stream=st.none() | st.booleans(),
    tags=st.dictionaries(st.sampled_from(["env", "team"]), short_text, max_size=2),
    metadata=st.dictionaries(st.sampled_from(["request_id", "sigil.sdk.content_capture_mode"]), short_text, max_size=2),
)


@given(st.lists(genai_records, min_size=1, max_size=3), st.booleans())
def test_generated_genai_spans(records: list[Record], include_content: bool) -> None:
    first = otlp.records_to_traces(
        records, resource_attributes={"service.name": "app"}, include_content=include_content
    )
    check(first)
    check(records_export(first))


# --------------------------------------------------------------------------- one change at a time

Change = Callable[[Request, Span], None]


def _all(*changes: Change) -> Change:
    def change(request: Request, span: Span) -> None:
        for one in changes:
            one(request, span)

    return change


def _attr(span: Span, key: str) -> KeyValue:
    return next(kv for kv in span.attributes if kv.key == key)


def _set(key: str, **value: object) -> Change:
    def change(request: Request, span: Span) -> None:
        for kv in span.attributes:
            if kv.key == key:
                kv.value.Clear()
                kv.value.MergeFrom(type(kv.value)(**value))  # type: ignore[arg-type]
                return
        span.attributes.add(key=key).value.MergeFrom(type(span.attributes[0].value)(**value))  # type: ignore[arg-type]

    return change


def _drop(key: str) -> Change:
    def change(request: Request, span: Span) -> None:
        kept = [kv for kv in span.attributes if kv.key != key]
        del span.attributes[:]
        span.attributes.extend(kept)

    return change


def _rename(old: str, new: str) -> Change:
    def change(request: Request, span: Span) -> None:
        _attr(span, old).key = new

    return change


def _named(name: str) -> Change:
    def change(request: Request, span: Span) -> None:
        span.name = name

    return change


def _status(code: int, message: str = "") -> Change:
    def change(request: Request, span: Span) -> None:
        span.status.code, span.status.message = code, message  # type: ignore[assignment]

    return change


def _resource(edit: Callable[[Request], None]) -> Change:
    return lambda request, span: edit(request)


def _drop_service(request: Request) -> None:
    del request.resource_spans[0].resource.attributes[:]


def _old_environment(request: Request) -> None:
    request.resource_spans[0].resource.attributes.add(key="deployment.environment").value.string_value = "prod"


def _scope_attribute(request: Request) -> None:
    request.resource_spans[0].scope_spans[0].scope.attributes.add(key="a").value.string_value = "b"


def _no_scope(request: Request) -> None:
    request.resource_spans[0].scope_spans[0].scope.name = ""


def _default_scope_without_schema(request: Request) -> None:
    ss = request.resource_spans[0].scope_spans[0]
    ss.scope.name, ss.schema_url = DEFAULT_SCOPE_NAME, ""


def _twice(request: Request, span: Span) -> None:
    span.attributes.add().CopyFrom(_attr(span, "gen_ai.request.model"))


def _event(request: Request, span: Span) -> None:
    """Content as a pre-1.28 event: the record takes it, the encoder writes it as attributes."""
    _drop("gen_ai.input.messages")(request, span)
    event = span.events.add(name="gen_ai.content.prompt", time_unix_nano=span.start_time_unix_nano)
    event.attributes.add(key="gen_ai.prompt").value.string_value = '[{"role": "user", "content": "hi"}]'


def _exception(request: Request, span: Span) -> None:
    _set("error.type", string_value="RateLimitError")(request, span)
    _status(Status.STATUS_CODE_ERROR, "429")(request, span)
    event = span.events.add(name="exception", time_unix_nano=span.end_time_unix_nano)
    event.attributes.add(key="exception.type").value.string_value = "RateLimitError"


def _link(request: Request, span: Span) -> None:
    link = span.links.add(trace_id=span.trace_id, span_id=bytes(range(1, 9)), flags=0x100)
    link.attributes.add(key="link.kind").value.string_value = "follows"


def _short_link(request: Request, span: Span) -> None:
    span.links.add(trace_id=span.trace_id, span_id=b"\1\2")


def _event_dropping(request: Request, span: Span) -> None:
    span.events.add(name="log", time_unix_nano=span.end_time_unix_nano, dropped_attributes_count=2)


def _trace_state_and_flags(request: Request, span: Span) -> None:
    span.trace_state, span.flags = "a=b", 0x101


def _start_later(request: Request, span: Span) -> None:
    span.start_time_unix_nano = span.end_time_unix_nano + 1


def _spaced_messages(request: Request, span: Span) -> None:
    kv = _attr(span, "gen_ai.input.messages")
    kv.value.string_value = kv.value.string_value.replace('","', '", "')


# Each changes the first bench span so that the records path sends something else: the rule must
# refuse every one of them (and the records export shows it had to).
REFUSED: dict[str, Change] = {
    "a deprecated name": _rename("gen_ai.provider.name", "gen_ai.system"),
    "an OpenLLMetry name": _rename("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
    "an OpenInference span": _set("openinference.span.kind", string_value="LLM"),
    "a provider spelled otherwise": _set("gen_ai.provider.name", string_value="OpenAI"),
    "a provider's finish reason": _set(
        "gen_ai.response.finish_reasons", array_value={"values": [{"string_value": "end_turn"}]}
    ),
    "an operation alias": _set("gen_ai.operation.name", string_value="generateText"),
    "no operation": _drop("gen_ai.operation.name"),
    "a span named by its source": _named("openai.chat"),
    "a record name equal to the span name": _set("gateway.record.name", string_value="chat gpt-4o"),
    "an original operation that is the operation": _set("gateway.operation.original", string_value="chat"),
    "a record kind the operation implies": _set("gateway.record.kind", string_value="llm"),
    "the record id of an LLM span": _rename("sigil.generation.id", "gateway.record.id"),
    "an empty string": _set("gen_ai.conversation.id", string_value=""),
    "an int temperature": _set("gen_ai.request.temperature", int_value=1),
    "a float max_tokens": _set("gen_ai.request.max_tokens", double_value=1024.0),
    "stream false": _set("gen_ai.request.stream", bool_value=False),
    "a string finish reason": _set("gen_ai.response.finish_reasons", string_value="stop"),
    "an int evaluation score": _set("gateway.eval_score.quality", int_value=1),
    "an empty id list": _set("gateway.tools_used", array_value={}),
    "a negative time to first chunk": _set("gen_ai.response.time_to_first_chunk", double_value=-1.0),
    "tool arguments that are not a string": _set("gen_ai.tool.call.arguments", int_value=3),
    "content as the metadata_only capture mode says": _set(
        "gateway.metadata." + formats.capture_mode_key(), string_value="metadata_only"
    ),
    "messages with spaces": _spaced_messages,
    "error.type on a span that did not fail": _set("error.type", string_value="timeout"),
    "a failed span without error.type": _status(Status.STATUS_CODE_ERROR, "boom"),
    "a message on an unset status": _status(Status.STATUS_CODE_UNSET, "fine"),
    "a key twice": _twice,
    "a content event": _event,
    "an event's dropped attribute count": _event_dropping,
    "a link to an invalid span id": _short_link,
    "a start after the end": _start_later,
    "a resource without service.name": _resource(_drop_service),
    "the pre-1.27 environment name": _resource(_old_environment),
    "scope attributes": _resource(_scope_attribute),
    "no scope name": _resource(_no_scope),
    "the gateway's scope without its schema": _resource(_default_scope_without_schema),
}


@pytest.mark.parametrize("change", REFUSED.values(), ids=list(REFUSED))
def test_every_rule_is_needed(change: Change) -> None:
    request = bench_request(2)
    change(request, request.resource_spans[0].scope_spans[0].spans[0])
    assert native.survey(request) is None
    assert normalized(request) != normalized(records_export(request))


# Changes the records path does not mind: the rule takes them.
TAKEN: dict[str, Change] = {
    "an unknown attribute": _set("app.feature", string_value="search"),
    "an unknown gen_ai attribute": _set("gen_ai.request.top_k", int_value=40),
    "a failed span with error.type": _all(_set("error.type", string_value="timeout"), _status(2, "x")),
    "a tool call span": _all(
        _set("gen_ai.operation.name", string_value="execute_tool"),
        _drop("gateway.operation.original"),
        _set("gen_ai.tool.name", string_value="search"),
        _rename("sigil.generation.id", "gateway.record.id"),
        _drop("gen_ai.input.messages"),
        _drop("gen_ai.output.messages"),
        _drop("gen_ai.response.finish_reasons"),
        _named("execute_tool search"),
    ),
    "a source name kept beside the conventions' one": _set("gateway.record.name", string_value="openai.chat"),
    "a status OK": _status(Status.STATUS_CODE_OK),
    "an exception event on a failed span": _exception,
    "a link": _link,
    "a key-value list": _set("app.map", kvlist_value={"values": [{"key": "a", "value": {"int_value": 1}}]}),
    "trace state and flags": _trace_state_and_flags,
    # What the metrics read (native_metrics) in each form the records path keeps.
    "a server address and port": _all(
        _set("server.address", string_value="api.openai.com"), _set("server.port", int_value=443)
    ),
    "a server port as a string": _all(
        _set("server.address", string_value="api.openai.com"), _set("server.port", string_value="443")
    ),
    "a server port without an address": _set("server.port", int_value=443),
    "a time to first chunk": _set("gen_ai.response.time_to_first_chunk", double_value=0.123),
    "a time to first chunk as a string": _set("gen_ai.response.time_to_first_chunk", string_value="0.1"),
    "token counts of other types": _all(
        _set("gen_ai.usage.input_tokens", string_value="12"), _set("gen_ai.usage.output_tokens", double_value=3.0)
    ),
    "a negative token count": _set("gen_ai.usage.output_tokens", int_value=-3),
    "an embeddings call": _all(
        _set("gen_ai.operation.name", string_value="embeddings"),
        _drop("gateway.operation.original"),
        _drop("gen_ai.input.messages"),
        _drop("gen_ai.output.messages"),
        _drop("gen_ai.response.finish_reasons"),
        _rename("sigil.generation.id", "gateway.record.id"),
        _named("embeddings gpt-4o"),
    ),
}


@pytest.mark.parametrize("change", TAKEN.values(), ids=list(TAKEN))
def test_what_the_records_path_keeps_goes_as_it_is(change: Change) -> None:
    request = bench_request(2)
    change(request, request.resource_spans[0].scope_spans[0].spans[0])
    assert check(request)  # the spans, and the metrics counted from them


def test_metrics_of_natives_count_every_model_call() -> None:
    request = bench_request(20)
    metrics = native_metrics_of(request)
    assert metrics is not None
    counts = {
        m.name: sum(p.count for p in m.histogram.data_points)
        for m in metrics.resource_metrics[0].scope_metrics[0].metrics
    }
    assert counts == {"gen_ai.client.operation.duration": 20, "gen_ai.client.token.usage": 40}
    assert metrics == records_metrics_of(request)


@given(st.lists(st.sampled_from([*REFUSED.values(), *TAKEN.values()]), max_size=4), st.integers(0, 2))
def test_any_mix_of_changes_keeps_the_promise(changes: list[Change], index: int) -> None:
    request = bench_request(3)
    span = request.resource_spans[0].scope_spans[0].spans[index]
    for change in changes:
        try:
            change(request, span)
        except StopIteration:  # an attribute an earlier change removed
            continue
    check(request)


# --------------------------------------------------------------------------- the native


def test_chunks_join_halves_and_bytes_keep_the_spans_in_order() -> None:
    request = bench_request(10)
    request.resource_spans.add().CopyFrom(bench_request(3).resource_spans[0])
    whole = native.OtlpTraces.of(request, 13, request.SerializeToString())
    ids = [span.span_id for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]

    def span_ids(traces: Native) -> list[bytes]:
        assert isinstance(traces, native.OtlpTraces)
        req = traces.request()
        return [span.span_id for rs in req.resource_spans for ss in rs.scope_spans for span in ss.spans]

    chunks = whole.chunks(4)
    assert [len(c) for c in chunks] == [4, 4, 4, 1]
    assert all(isinstance(c, native.OtlpTraces) for c in chunks)
    assert [i for c in chunks for i in span_ids(c)] == ids
    joined = chunks[0].join(chunks[1:])
    assert len(joined) == 13 and span_ids(joined) == ids
    first, rest = whole.halves()
    assert (len(first), len(rest)) == (6, 7) and span_ids(first) + span_ids(rest) == ids
    assert whole.to_bytes() == request.SerializeToString()
    again = formats.native_decoder(native.KIND)
    assert again is not None
    stored = again(joined.to_bytes())
    assert isinstance(stored, native.OtlpTraces) and len(stored) == 13 and span_ids(stored) == ids


def test_materialize_gives_what_the_receiver_decodes() -> None:
    request = bench_request(5)
    assert native.OtlpTraces.of(request, 5).materialize() == otlp.traces_to_records(request)[0]


def test_what_the_rule_remembers_is_bounded() -> None:
    rules = canonical.rules(DEFAULT)
    request = bench_request(1)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    huge = "m" * (canonical._MEMO_BYTES + 1)
    _set("gen_ai.request.model", string_value=huge)(request, span)
    span.name = "chat " + huge
    before = len(rules.memo)
    assert check(request)
    assert len(rules.memo) == before  # judged, not kept
    for i in range(canonical._MEMO_ITEMS + 10):
        _set("gen_ai.request.model", string_value=f"m{i}")(request, span)
        span.name = f"chat m{i}"
        assert native.survey(request) is not None
    assert len(rules.memo) <= canonical._MEMO_ITEMS


def test_a_nats_stream_of_otlp_takes_the_spans_as_received() -> None:
    """``nats: {encoding: otlp_proto}`` declares the kind and publishes the received bytes; they
    read back as the records the records path would have published."""
    from gateway import nats_encodings
    from gateway.model import Batch, Context

    body = payloads.otlp_body(0, 20)
    request = Request.FromString(body)
    assert native.survey(request) is not None
    assert native.KIND in nats_encodings.native_kinds("otlp_proto")
    traces = native.OtlpTraces.of(request, 20, body)
    encoded = nats_encodings.encode_native("otlp_proto", Batch(None, Context(), native=traces))
    assert encoded is not None
    assert [(b.kind, b.data, b.count) for b in encoded.bodies] == [("otlp/traces", body, 20)]
    from_records = nats_encodings.encode("otlp_proto", traces.materialize())
    assert (
        nats_encodings.decode("otlp/traces", body).records
        == nats_encodings.decode("otlp/traces", from_records.bodies[0].data).records
    )
    assert nats_encodings.encode_native("sigil_proto", Batch(None, Context(), native=traces)) is None


# --- spans without GenAI attributes, passed through (the receiver's passthrough_non_genai) -------

_OTHER_KEYS = [
    "http.request.method",
    "http.response.status_code",
    "url.full",
    "db.system.name",
    "user.id",
    "session.id",
    "error.type",
    "server.address",
    "server.port",
    "app.tags",
    "gateway.metadata.team",
    "gateway.tag.env",
    "llm.request.type",
    "deployment.environment.name",
]
_scalars = st.one_of(
    st.builds(AnyValue, string_value=st.sampled_from(["", "GET", "x", "timeout", "0"])),
    st.builds(AnyValue, int_value=st.integers(-(2**63), 2**63 - 1)),
    st.builds(AnyValue, double_value=st.floats(allow_nan=True)),
    st.builds(AnyValue, bool_value=st.booleans()),
    st.builds(AnyValue, bytes_value=st.binary(max_size=4)),
)
_values = _scalars | st.lists(_scalars, max_size=2).map(lambda items: AnyValue(array_value=ArrayValue(values=items)))


@st.composite
def other_spans(draw: st.DrawFn, like: Span) -> Span:
    span = Span(
        trace_id=like.trace_id,
        span_id=draw(st.binary(min_size=8, max_size=8).filter(any)),
        parent_span_id=draw(st.just(b"") | st.just(like.span_id)),
        name=draw(st.sampled_from(["GET /chat", "", "SELECT"])),
        kind=draw(st.sampled_from(list(Span.SpanKind.values()))),
        start_time_unix_nano=like.start_time_unix_nano,
        end_time_unix_nano=like.end_time_unix_nano + draw(st.integers(0, 10)),
    )
    for key in draw(st.lists(st.sampled_from(_OTHER_KEYS), max_size=4)):
        span.attributes.add(key=key).value.CopyFrom(draw(_values))
    code = draw(st.sampled_from([Status.STATUS_CODE_UNSET, Status.STATUS_CODE_OK, Status.STATUS_CODE_ERROR]))
    if code or draw(st.booleans()):
        span.status.code = code
        span.status.message = draw(st.sampled_from(["", "boom"]))
    if draw(st.booleans()):
        _exception(Request(), span)
    if draw(st.booleans()):
        _link(Request(), span)
    return span


@st.composite
def mixed_requests(draw: st.DrawFn) -> Request:
    request = bench_request(2)
    spans = request.resource_spans[0].scope_spans[0].spans
    spans.extend(draw(st.lists(other_spans(spans[0]), min_size=1, max_size=3)))
    return request


@given(mixed_requests())
def test_spans_passed_through_go_as_they_are_when_the_records_path_gives_them_back(request: Request) -> None:
    assert not check(request)  # without passthrough_non_genai the records path drops them
    check(request, passthrough=True)


def test_the_bench_mix_goes_as_it_is_with_passthrough() -> None:
    request = Request.FromString(payloads.otlp_body(0, 10, non_genai=1))
    assert not check(request)
    assert check(request, passthrough=True)


def _other(request: Request) -> Span:
    """A pass-through span added to ``request`` (an HTTP handler's), returned for changing."""
    like = request.resource_spans[0].scope_spans[0].spans[0]
    span = (
        request.resource_spans[0]
        .scope_spans[0]
        .spans.add(
            trace_id=like.trace_id,
            span_id=bytes(range(11, 19)),
            name="POST /chat",
            kind=Span.SPAN_KIND_SERVER,
            start_time_unix_nano=like.start_time_unix_nano,
            end_time_unix_nano=like.end_time_unix_nano,
        )
    )
    span.attributes.add(key="http.request.method").value.string_value = "POST"
    span.attributes.add(key="http.response.status_code").value.int_value = 200
    return span


OTHER_REFUSED: dict[str, Change] = {
    "a message on an unset status": _status(Status.STATUS_CODE_UNSET, "fine"),
    "an invalid span id": lambda request, span: setattr(span, "span_id", b"\0" * 8),
    "a start after the end": _start_later,
    "a key twice": lambda request, span: span.attributes.add().CopyFrom(span.attributes[0]),
    "an empty user id": _set("user.id", string_value=""),
    "a link to an invalid span id": _short_link,
    "no name": lambda request, span: setattr(span, "name", ""),
}


@pytest.mark.parametrize("change", OTHER_REFUSED.values(), ids=list(OTHER_REFUSED))
def test_every_rule_of_pass_through_spans_is_needed(change: Change) -> None:
    request = bench_request(2)
    change(request, _other(request))
    assert native.survey(request, passthrough=True) is None
    assert normalized(request) != normalized(records_export(request, passthrough=True))


OTHER_TAKEN: dict[str, Change] = {
    "an HTTP handler's span": lambda request, span: None,
    "a key the decoder keeps as it is": _set("llm.request.type", string_value="chat"),
    "a failed one with a message": _status(Status.STATUS_CODE_ERROR, "upstream 502"),
    "an error.type and an exception event": _exception,
    "a user and a session": _all(_set("user.id", string_value="u1"), _set("session.id", string_value="s1")),
    "a server address and port": _all(
        _set("server.address", string_value="api.internal"), _set("server.port", int_value=8080)
    ),
}


@pytest.mark.parametrize("change", OTHER_TAKEN.values(), ids=list(OTHER_TAKEN))
def test_pass_through_spans_the_records_path_keeps_go_as_they_are(change: Change) -> None:
    request = bench_request(2)
    change(request, _other(request))
    assert check(request, passthrough=True)
