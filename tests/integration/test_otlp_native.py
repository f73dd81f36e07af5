"""The OTLP pass-through end to end: spans of real instrumentations against the rule, and an
``otlp`` receiver feeding ``otlp`` exporters over loopback (gRPC and HTTP), where natives are
taken, refused, stored in a persistent queue and split."""

from __future__ import annotations

import asyncio
import logging
import pathlib
from collections.abc import Callable
from typing import Any

import aiohttp
import grpc
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Status
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.trace import TracerProvider

from bench import payloads
from gateway.component import ComponentId
from gateway.formats import otlp
from gateway.model import Record
from gateway.receivers import otlp as receiver_module
from gateway.receivers.otlp import DEFAULT_DEDUP_PAIRS
from gateway.service import Service
from tests.conftest import StartGateway, grpc_port, http_port
from tests.fake_llm import FakeOpenAI
from tests.formats.otlp.test_native import check, normalized, records_export, records_metrics_of
from tests.integration.test_instrumentations import _openai_v2, _openinference, _traceloop, fake_openai, traced
from tests.integration.test_otlp import collector
from tests.otlp_fakes import Answer, FakeOtlpCollector

__all__ = ["collector", "fake_openai"]  # the fixtures, for the tests here
ANY = "127.0.0.1:0"

INSTRUMENTATIONS: dict[str, Callable[[TracerProvider], Callable[[], None]]] = {
    "openinference": _openinference,
    "openllmetry": _traceloop,
    "opentelemetry openai_v2": lambda provider: _openai_v2(provider, LoggerProvider()),
}


@pytest.mark.parametrize("instrument", INSTRUMENTATIONS.values(), ids=list(INSTRUMENTATIONS))
async def test_real_instrumentations_spans_keep_the_promise(
    fake_openai: FakeOpenAI, instrument: Callable[[TracerProvider], Callable[[], None]]
) -> None:
    """Their spans as sent are not canonical (older names, the source's span names), so they take
    the records path; once through it (one gateway hop), they are, and a second gateway in a
    chain passes them on untranslated. The rule holds both times (``check``)."""
    spans = await asyncio.to_thread(traced, None, instrument, fake_openai)
    request = encode_spans(spans)
    assert len(spans) == 2 and not check(request)
    assert check(records_export(request))


# --------------------------------------------------------------------------- over loopback


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the requests the otlp receiver translated into records."""
    calls: list[int] = []
    real = otlp.traces_to_records

    def spy(request: ExportTraceServiceRequest, *args: Any, **kwargs: Any) -> tuple[list[Record], int]:
        calls.append(1)
        return real(request, *args, **kwargs)

    monkeypatch.setattr(otlp, "traces_to_records", spy)  # the name the receiver calls
    return calls


def _otlp_exporter(collector: FakeOtlpCollector, **settings: Any) -> dict[str, Any]:
    return {
        "endpoint": f"http://127.0.0.1:{collector.grpc_port}",
        "protocol": "grpc",
        "compression": "none",
        "metrics": {"enabled": False},
        **settings,
    }


async def _gateway(start_gateway: StartGateway, exporters: dict[str, Any], **receiver: Any) -> Service:
    return await start_gateway(
        {
            "receivers": {"otlp": {"grpc": {"endpoint": ANY}, "http": {"endpoint": ANY}, **receiver}},
            "exporters": exporters,
            "service": {"pipelines": {"p": {"receivers": ["otlp"], "exporters": list(exporters)}}},
        }
    )


async def _export(service: Service, body: bytes) -> bytes:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port(service)}") as channel:
        call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        answer: bytes = await call(body, timeout=10)
        return answer


def _arrived(collector: FakeOtlpCollector) -> ExportTraceServiceRequest:
    out = ExportTraceServiceRequest()
    for r in collector.accepted("traces"):
        request = r.decode()
        assert isinstance(request, ExportTraceServiceRequest)
        out.MergeFrom(request)
    return out


async def test_grpc_to_grpc_sends_the_received_bytes_without_records(
    start_gateway: StartGateway, collector: FakeOtlpCollector, decoded: list[int]
) -> None:
    service = await _gateway(start_gateway, {"otlp": _otlp_exporter(collector)})
    body = payloads.otlp_body(0, 20)
    assert await _export(service, body) == b""
    await collector.wait_for_spans(20)
    assert [r.data for r in collector.accepted("traces")] == [body]
    assert decoded == []


async def test_spans_the_records_path_changes_take_it(
    start_gateway: StartGateway, collector: FakeOtlpCollector, decoded: list[int]
) -> None:
    service = await _gateway(start_gateway, {"otlp": _otlp_exporter(collector)})
    request = ExportTraceServiceRequest.FromString(payloads.otlp_body(0, 3))
    span = request.resource_spans[0].scope_spans[0].spans[1]
    next(kv for kv in span.attributes if kv.key == "gen_ai.provider.name").key = "gen_ai.system"
    await _export(service, request.SerializeToString())
    await collector.wait_for_spans(3)
    assert decoded == [1]
    assert normalized(_arrived(collector)) == normalized(records_export(request))


async def test_a_persistent_queue_and_retries_keep_the_native(
    start_gateway: StartGateway, collector: FakeOtlpCollector, decoded: list[int], tmp_path: pathlib.Path
) -> None:
    collector.respond = lambda signal, n: Answer(grpc_code=grpc.StatusCode.UNAVAILABLE) if n < 2 else None
    retry = {"enabled": True, "initial_interval": "10ms", "max_interval": "20ms"}
    exporter = _otlp_exporter(collector, sending_queue={"storage": str(tmp_path)}, retry_on_failure=retry)
    service = await _gateway(start_gateway, {"otlp": exporter})
    body = payloads.otlp_body(0, 5)
    await _export(service, body)
    await collector.wait_for_spans(5)
    assert decoded == [] and collector.accepted("traces")[0].data == body


async def test_large_requests_are_split_where_the_records_path_splits_them(
    start_gateway: StartGateway, collector: FakeOtlpCollector, decoded: list[int]
) -> None:
    service = await _gateway(start_gateway, {"otlp": _otlp_exporter(collector, max_request_size="5KiB")})
    body = payloads.otlp_body(0, 8)  # about 2.3 KB a span
    await _export(service, body)
    await collector.wait_for_spans(8)
    assert decoded == []
    assert [len(r.decode().resource_spans[0].scope_spans[0].spans) for r in collector.accepted("traces")] == [2] * 4  # type: ignore[union-attr]
    assert normalized(_arrived(collector)) == normalized(ExportTraceServiceRequest.FromString(body))


async def test_metrics_on_count_the_spans_without_records(
    start_gateway: StartGateway, collector: FakeOtlpCollector, decoded: list[int]
) -> None:
    metrics = {"enabled": True, "interval": "1h", "temporality": "cumulative"}
    service = await _gateway(start_gateway, {"otlp": _otlp_exporter(collector, metrics=metrics)})
    request = ExportTraceServiceRequest.FromString(payloads.otlp_body(0, 20))
    span = request.resource_spans[0].scope_spans[0].spans[3]  # a failed call
    span.status.code = Status.STATUS_CODE_ERROR
    span.attributes.add(key="error.type").value.string_value = "timeout"
    body = request.SerializeToString()
    await _export(service, body)
    await collector.wait_for_spans(20)
    await service.shutdown()  # the final metrics
    assert decoded == [] and [r.data for r in collector.accepted("traces")] == [body]
    expected = records_metrics_of(request)
    assert expected is not None
    assert [_points(m) for m in collector.metrics()] == [_points(expected)]


def _points(request: ExportMetricsServiceRequest) -> list[tuple[str, bytes]]:
    """Each histogram point without its times."""
    out = []
    for metric in request.resource_metrics[0].scope_metrics[0].metrics:
        for point in metric.histogram.data_points:
            point.ClearField("start_time_unix_nano")
            point.ClearField("time_unix_nano")
            out.append((metric.name, point.SerializeToString(deterministic=True)))
    return sorted(out)


@pytest.mark.parametrize("passthrough", [True, False])
async def test_spans_without_genai_attributes_go_as_they_came_when_passed_through(
    start_gateway: StartGateway, collector: FakeOtlpCollector, decoded: list[int], passthrough: bool
) -> None:
    exporter = _otlp_exporter(collector)
    service = await _gateway(start_gateway, {"otlp": exporter}, passthrough_non_genai=passthrough)
    body = payloads.otlp_body(0, 4, non_genai=1)  # an HTTP handler's span beside the GenAI ones
    await _export(service, body)
    await collector.wait_for_spans(5 if passthrough else 4)
    if passthrough:
        assert decoded == [] and [r.data for r in collector.accepted("traces")] == [body]
    else:  # the records path drops them, as before
        assert decoded == [1]
        assert normalized(_arrived(collector)) == normalized(records_export(ExportTraceServiceRequest.FromString(body)))


async def test_http_protobuf_both_ways(
    start_gateway: StartGateway, collector: FakeOtlpCollector, decoded: list[int]
) -> None:
    exporter = _otlp_exporter(collector, endpoint=f"http://127.0.0.1:{collector.http_port}", protocol="http/protobuf")
    exporter["compression"] = "gzip"
    service = await _gateway(start_gateway, {"otlp": exporter})
    body = payloads.otlp_body(0, 4)
    async with aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{http_port(service)}/v1/traces"
        async with session.post(url, data=body, headers={"Content-Type": "application/x-protobuf"}) as resp:
            assert resp.status == 200
    await collector.wait_for_spans(4)
    assert decoded == [] and collector.accepted("traces")[0].data == body


@pytest.mark.parametrize(
    ("exporters", "receiver", "native"),
    [
        ({"otlp": {}}, {}, True),
        ({"otlp": {"metrics": {"enabled": True}}}, {}, True),  # counted from the spans as they are
        ({"otlp": {"include_content": False}}, {}, False),
        ({"otlp": {"conventions": ["gen_ai", "openinference"]}}, {}, False),
        ({"otlp": {}, "file": None}, {}, False),  # another format downstream
        ({"otlp": {}}, {"keep_genai_ancestors": True}, False),
    ],
    ids=["otlp", "metrics", "no content", "openinference", "and a file", "ancestors"],
)
async def test_when_natives_are_taken(
    start_gateway: StartGateway,
    collector: FakeOtlpCollector,
    tmp_path: pathlib.Path,
    exporters: dict[str, Any],
    receiver: dict[str, Any],
    native: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.receivers.otlp")
    built = {
        name: _otlp_exporter(collector, **settings) if name == "otlp" else {"path": str(tmp_path / "out.jsonl")}
        for name, settings in ((n, s or {}) for n, s in exporters.items())
    }
    service = await _gateway(start_gateway, built, **receiver)
    otlp_receiver = service.graph.receivers[ComponentId.parse("otlp")]
    assert isinstance(otlp_receiver, receiver_module.OtlpReceiver)
    assert otlp_receiver._native is native
    said = [r.getMessage() for r in caplog.records if "pass through as received" in r.getMessage()]
    assert said == (["otlp: spans the gateway would write unchanged pass through as received"] if native else [])


async def test_spans_a_dedup_pair_or_the_join_buffer_may_take_go_as_records(
    start_gateway: StartGateway, collector: FakeOtlpCollector, decoded: list[int]
) -> None:
    service = await _gateway(start_gateway, {"otlp": _otlp_exporter(collector)})
    request = ExportTraceServiceRequest.FromString(payloads.otlp_body(0, 2))
    request.resource_spans[0].scope_spans[0].scope.name = DEFAULT_DEDUP_PAIRS[0][0]
    await _export(service, request.SerializeToString())
    await collector.wait_for_spans(2)
    assert decoded == [1]
    # Once a service sent GenAI events, its LLM spans may wait for theirs: records again.
    logs = ExportLogsServiceRequest()
    rl = logs.resource_logs.add()
    rl.resource.attributes.add(key="service.name").value.string_value = "bench"
    log = rl.scope_logs.add().log_records.add(event_name="gen_ai.user.message", trace_id=b"\1" * 16, span_id=b"\2" * 8)
    log.body.kvlist_value.values.add(key="content").value.string_value = "hi"
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port(service)}") as channel:
        call = channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export")
        await call(logs.SerializeToString(), timeout=10)
    await _export(service, payloads.otlp_body(100, 2))
    await collector.wait_for_spans(4)
    assert decoded == [1, 1]
