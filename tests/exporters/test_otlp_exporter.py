"""``otlp`` exporter against a fake collector on real sockets: encodings, compression, status
handling (retry only what the spec allows, honouring Retry-After / RetryInfo), partial success,
metrics collection, content rules and request splitting."""

from __future__ import annotations

import dataclasses
import email.utils
import gzip
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import orjson
import pytest
import zstandard
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, Metric

from gateway.component import ComponentId, CreateSettings
from gateway.config import Decoder, load
from gateway.errors import ConfigError
from gateway.exporters._otlp_client import OFFLOAD_MIN_BYTES, OtlpClient
from gateway.exporters.otlp import OtlpExporter, OtlpExporterConfig
from gateway.formats.otlp import records_to_traces_bytes
from gateway.formats.otlp.values import attributes_to_dict
from gateway.model import Batch, Kind, Record, Usage
from gateway.telemetry import Telemetry
from tests.formats.otlp.test_encode import CONTENT_ATTRS, T0, chat_record, emit
from tests.otlp_fakes import Answer, FakeOtlpCollector

EXPORTER = "otlp"


@pytest.fixture
async def collector() -> AsyncIterator[FakeOtlpCollector]:
    fake = FakeOtlpCollector()
    await fake.start()
    yield fake
    await fake.stop()


@dataclasses.dataclass
class Running:
    exporter: OtlpExporter
    telemetry: Telemetry

    def value(self, name: str, **labels: str) -> float:
        got = self.telemetry.registry.get_sample_value(name, {"exporter": EXPORTER, **labels})
        return got or 0.0


def _config(raw: dict[str, Any]) -> OtlpExporterConfig:
    d = Decoder({})
    cfg = d.decode(OtlpExporterConfig, raw, "exporters::otlp")
    assert cfg is not None, d.problems
    return cfg


def _endpoint(collector: FakeOtlpCollector, protocol: str) -> str:
    return f"http://127.0.0.1:{collector.grpc_port if protocol == 'grpc' else collector.http_port}"


async def start_exporter(collector: FakeOtlpCollector, protocol: str = "http/protobuf", **raw: Any) -> Running:
    base: dict[str, Any] = {
        "endpoint": _endpoint(collector, protocol),
        "protocol": protocol,
        # Inline sends: consume() returns when the batch was delivered or given up on.
        "sending_queue": {"enabled": False},
        # An hour: a test that retries without the server's own delay would time out.
        "retry_on_failure": {"initial_interval": "1h", "max_interval": "1h"},
    }
    telemetry = Telemetry()
    exporter = OtlpExporter(CreateSettings(id=ComponentId(EXPORTER), telemetry=telemetry), _config(base | raw))
    await exporter.start()
    return Running(exporter, telemetry)


def llm(n: int, **changes: Any) -> Record:
    return dataclasses.replace(
        Record(
            kind=Kind.LLM,
            id=f"gen_{n}",
            provider="openai",
            model="gpt-4o",
            response_model="gpt-4o-2024-08-06",
            start_ns=T0 + n,
            end_ns=T0 + n + 300_000_000,  # 0.3 s
            usage=Usage(input_tokens=100, output_tokens=20, input_includes_cache=True),
        ),
        **changes,
    )


# --- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exporter", "problem"),
    [
        (
            {"endpoint": "127.0.0.1:4318", "protocol": "http/json"},
            "exporters::otlp::endpoint: must start with http:// or https:// when protocol is http/json",
        ),
        (
            {"endpoint": "http://collector:4318/v1/traces", "protocol": "http/protobuf"},
            "exporters::otlp::endpoint: is a base URL; the exporter appends /v1/traces and /v1/metrics",
        ),
        (
            {"endpoint": "collector:4317/otlp"},
            "exporters::otlp::endpoint: a gRPC target is host:port (with http:// or https://), not a URL path",
        ),
        (
            {"endpoint": "collector:4317", "compression": "zstd"},
            "exporters::otlp::compression: must be gzip or none when protocol is grpc",
        ),
        (
            {"endpoint": "collector:4317", "compression": "br"},
            "exporters::otlp::compression: must be one of gzip, zstd, none",
        ),
        (
            {"endpoint": "collector:4317", "compression_params": {"level": 5}},
            "exporters::otlp::compression_params::level: not supported when protocol is grpc"
            " (grpcio compresses at its own level)",
        ),
        (
            {"endpoint": "http://c:4318", "protocol": "http/protobuf", "compression_params": {"level": 10}},
            "exporters::otlp::compression_params::level: must be 1 to 9 for gzip (0 or unset: the default, 1), got 10",
        ),
        (
            {
                "endpoint": "http://c:4318",
                "protocol": "http/json",
                "compression": "zstd",
                "compression_params": {"level": 23},
            },
            "exporters::otlp::compression_params::level: must be 1 to 22 for zstd (0 or unset: the default, 1), got 23",
        ),
        (
            {
                "endpoint": "http://c:4318",
                "protocol": "http/protobuf",
                "compression": "none",
                "compression_params": {"level": 3},
            },
            "exporters::otlp::compression_params::level: not supported when compression is none",
        ),
        (
            {"endpoint": "collector:4317", "semconv_version": "1.99.0"},
            "exporters::otlp::semconv_version: unknown version '1.99.0' (known: 1.41.1)",
        ),
        (
            {"endpoint": "collector:4317", "metrics": {"interval": "0s"}},
            "exporters::otlp::metrics::interval: must be greater than 0",
        ),
        (
            {"endpoint": "collector:4317", "metrics": {"temporality": "sometimes"}},
            "exporters::otlp::metrics::temporality: must be one of cumulative, delta",
        ),
        (
            {"endpoint": "collector:4317", "traces": {"enabled": False}, "metrics": {"enabled": False}},
            "exporters::otlp: at least one of traces, metrics must be enabled",
        ),
        (
            {"endpoint": "collector:4317", "protocol": "http"},
            "exporters::otlp::protocol: must be one of grpc, http/protobuf, http/json",
        ),
    ],
)
def test_config_problems(exporter: dict[str, Any], problem: str) -> None:
    raw = {
        "receivers": {"otlp": {"grpc": {}}},
        "exporters": {"otlp": exporter},
        "service": {"pipelines": {"p": {"receivers": ["otlp"], "exporters": ["otlp"]}}},
    }
    with pytest.raises(ConfigError) as info:
        load(raw, environ={})
    assert info.value.problems == [problem]


# --- encodings and compression ------------------------------------------------------------------

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@pytest.mark.parametrize(
    ("protocol", "compression"),
    [
        ("grpc", "gzip"),
        ("grpc", "none"),
        ("http/protobuf", "gzip"),
        ("http/protobuf", "zstd"),
        ("http/protobuf", "none"),
        ("http/json", "gzip"),
        ("http/json", "zstd"),
    ],
)
async def test_spans_and_metrics_arrive_in_every_encoding(
    collector: FakeOtlpCollector, protocol: str, compression: str
) -> None:
    run = await start_exporter(
        collector,
        protocol,
        compression=compression,
        headers={"X-Scope-OrgID": "team-a"},
        resource_attributes={"service.name": "edge-gateway"},
    )
    record = chat_record()
    await run.exporter.consume(Batch([record, llm(1)]))
    await run.exporter.shutdown()

    traces = collector.accepted("traces")
    metrics = collector.accepted("metrics")
    assert len(traces) == 1 and len(metrics) == 1
    for req in (*traces, *metrics):
        assert req.headers["x-scope-orgid"] == "team-a"
        assert req.headers["user-agent"].startswith("llm-telemetry-gateway/") or protocol == "grpc"
        if protocol != "grpc":
            assert req.content_type == ("application/json" if protocol == "http/json" else "application/x-protobuf")
            magic = {"gzip": _GZIP_MAGIC, "zstd": _ZSTD_MAGIC}.get(compression)
            assert req.headers.get("content-encoding") == (compression if magic else None)
            assert magic is None or req.raw.startswith(magic)
    # What arrived is exactly what the format module makes of the same records.
    (resource, scope, span), (_, _, second) = collector.spans()
    for s in (span, second):
        s.status.SetInParent()  # OTLP/JSON leaves an UNSET status out; protobuf sends it empty
    want = emit(chat_record(), llm(1), resource={"service.name": "edge-gateway"})
    assert [span, second] == [s for rs in want.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert attributes_to_dict(resource.attributes) == {
        "service.name": "edge-gateway",
        "deployment.environment.name": "prod",
    }
    assert scope.name == "llm-telemetry-gateway"
    assert span.name == "chat gpt-4o" and span.trace_id.hex() == record.trace_id.lower()
    assert CONTENT_ATTRS - {"gen_ai.tool.call.arguments", "gen_ai.tool.call.result"} <= set(
        attributes_to_dict(span.attributes)
    )
    names = {m.name for rm in collector.metrics()[0].resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert names == {
        "gen_ai.client.operation.duration",
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.time_to_first_chunk",
    }
    assert run.value("gateway_exporter_sent_records_total") == 2


@pytest.mark.parametrize(
    ("compression", "level", "compress"),
    [
        # gzip's header says how hard it tried (XFL: 4 fastest, 2 best); mtime 0 keeps it stable.
        ("gzip", None, lambda data: gzip.compress(data, compresslevel=1, mtime=0)),
        ("gzip", 9, lambda data: gzip.compress(data, compresslevel=9, mtime=0)),
        ("zstd", None, lambda data: zstandard.ZstdCompressor(level=1).compress(data)),
        ("zstd", 7, lambda data: zstandard.ZstdCompressor(level=7).compress(data)),
    ],
)
async def test_http_bodies_are_compressed_at_the_configured_level(
    collector: FakeOtlpCollector, compression: str, level: int | None, compress: Callable[[bytes], bytes]
) -> None:
    params: dict[str, Any] = {} if level is None else {"compression_params": {"level": level}}
    run = await start_exporter(collector, compression=compression, metrics={"enabled": False}, **params)
    records = [chat_record(), llm(1)]
    await run.exporter.consume(Batch(records))
    await run.exporter.shutdown()
    (request,) = collector.accepted("traces")
    want = records_to_traces_bytes(records, resource_attributes={}, include_content=True)
    assert request.data == want  # decodes to the very request the format module writes
    assert request.raw == compress(want)


async def test_large_bodies_are_compressed_off_the_event_loop(
    collector: FakeOtlpCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[int] = []
    compress = OtlpClient.compress

    def spy(self: OtlpClient, data: bytes) -> bytes:
        threads.append(threading.get_ident())
        return compress(self, data)

    monkeypatch.setattr(OtlpClient, "compress", spy)
    run = await start_exporter(collector, metrics={"enabled": False})
    small = [llm(0)]
    large = [dataclasses.replace(chat_record(), span_id=f"{n:016x}", id=f"gen_{n}") for n in range(1, 61)]
    await run.exporter.consume(Batch(small))
    await run.exporter.consume(Batch(large))
    await run.exporter.shutdown()
    first, second = collector.accepted("traces")
    assert len(first.raw) < OFFLOAD_MIN_BYTES <= len(second.data)
    assert threads[0] == threading.get_ident() != threads[1]  # the large one in a worker thread
    assert second.data == records_to_traces_bytes(large, resource_attributes={}, include_content=True)


# --- HTTP status handling -----------------------------------------------------------------------


def _past_http_date() -> str:
    return email.utils.formatdate(time.time() - 30, usegmt=True)


@pytest.mark.parametrize("status", [429, 502, 503, 504])
@pytest.mark.parametrize("retry_after", ["0", "date"])
async def test_retryable_http_status_is_retried_after_retry_after(
    collector: FakeOtlpCollector, status: int, retry_after: str
) -> None:
    header = _past_http_date() if retry_after == "date" else retry_after
    collector.respond = lambda signal, n: (
        Answer(http_status=status, headers={"Retry-After": header}, body=b"busy") if n == 0 else None
    )
    run = await start_exporter(collector, metrics={"enabled": False})
    await run.exporter.consume(Batch([llm(1), llm(2)]))
    await run.exporter.shutdown()
    assert [r.answered for r in collector.requests] == [status, 200]
    assert collector.requests[0].raw == collector.requests[1].raw  # the same bytes again
    assert run.value("gateway_exporter_retries_total") == 1
    assert run.value("gateway_exporter_sent_records_total") == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 408, 413, 500, 501])
async def test_other_http_status_is_permanent(collector: FakeOtlpCollector, status: int) -> None:
    failure = status_pb2.Status(code=3, message="bad span 0").SerializeToString()
    collector.respond = lambda signal, n: Answer(http_status=status, body=failure)
    run = await start_exporter(collector, metrics={"enabled": False})
    await run.exporter.consume(Batch([llm(1), llm(2)]))
    await run.exporter.shutdown()
    assert [r.answered for r in collector.requests] == [status]
    assert run.value("gateway_exporter_send_failed_records_total", reason="permanent") == 2
    assert run.value("gateway_exporter_retries_total") == 0


async def test_unreadable_success_body_is_permanent(collector: FakeOtlpCollector) -> None:
    collector.respond = lambda signal, n: Answer(body=b"\xff\xff not protobuf")
    run = await start_exporter(collector, metrics={"enabled": False})
    await run.exporter.consume(Batch([llm(1)]))
    await run.exporter.shutdown()
    assert len(collector.requests) == 1
    assert run.value("gateway_exporter_send_failed_records_total", reason="permanent") == 1


def _partial_body(protocol: str) -> bytes:
    if protocol == "http/json":
        return orjson.dumps({"partialSuccess": {"rejectedSpans": "2", "errorMessage": "spans too old"}})
    response = ExportTraceServiceResponse(
        partial_success=ExportTracePartialSuccess(rejected_spans=2, error_message="spans too old")
    )
    return response.SerializeToString()


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf", "http/json"])
async def test_partial_success_is_counted_and_not_retried(
    collector: FakeOtlpCollector, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    collector.respond = lambda signal, n: Answer(body=_partial_body(protocol)) if signal == "traces" else None
    run = await start_exporter(collector, protocol, metrics={"enabled": False})
    with caplog.at_level(logging.WARNING, logger="gateway.exporters.otlp"):
        await run.exporter.consume(Batch([llm(1), llm(2), llm(3)]))
    await run.exporter.shutdown()
    assert len(collector.requests) == 1
    assert run.value("gateway_exporter_dropped_records_total", reason="partial_success") == 2
    assert run.value("gateway_exporter_sent_records_total") == 1
    assert "server rejected 2 of 3 spans: spans too old" in caplog.text


# --- gRPC status handling -----------------------------------------------------------------------


def _retry_info(trailer: str) -> tuple[tuple[str, bytes], ...]:
    info = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(nanos=1_000_000))
    if trailer == "google.rpc.retryinfo-bin":
        return ((trailer, info.SerializeToString()),)
    status = status_pb2.Status(code=grpc.StatusCode.UNAVAILABLE.value[0], message="injected failure")
    status.details.add().Pack(info)
    return ((trailer, status.SerializeToString()),)


@pytest.mark.parametrize("trailer", ["grpc-status-details-bin", "google.rpc.retryinfo-bin"])
async def test_grpc_retryable_code_is_retried_after_retry_info(collector: FakeOtlpCollector, trailer: str) -> None:
    collector.respond = lambda signal, n: (
        Answer(grpc_code=grpc.StatusCode.UNAVAILABLE, trailers=_retry_info(trailer)) if n == 0 else None
    )
    run = await start_exporter(collector, "grpc", metrics={"enabled": False})
    await run.exporter.consume(Batch([llm(1)]))
    await run.exporter.shutdown()
    assert [r.answered for r in collector.requests] == ["UNAVAILABLE", "OK"]
    assert run.value("gateway_exporter_sent_records_total") == 1


@pytest.mark.parametrize("code", [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED])
async def test_grpc_other_codes_are_permanent(collector: FakeOtlpCollector, code: grpc.StatusCode) -> None:
    collector.respond = lambda signal, n: Answer(grpc_code=code)
    run = await start_exporter(collector, "grpc", metrics={"enabled": False})
    await run.exporter.consume(Batch([llm(1)]))
    await run.exporter.shutdown()
    assert [r.answered for r in collector.requests] == [code.name]
    assert run.value("gateway_exporter_send_failed_records_total", reason="permanent") == 1


# --- metrics ------------------------------------------------------------------------------------


def _metric(request_metrics: list[Any], name: str) -> Metric:
    found = [m for req in request_metrics for rm in req.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]
    (metric,) = [m for m in found if m.name == name]
    assert isinstance(metric, Metric)
    return metric


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf", "http/json"])
async def test_final_metrics_on_shutdown(collector: FakeOtlpCollector, protocol: str) -> None:
    run = await start_exporter(collector, protocol, traces={"enabled": False})
    await run.exporter.consume(Batch([llm(1), llm(2, end_ns=T0 + 2 + 3_000_000_000, ttft_ms=150.0)]))
    await run.exporter.consume(Batch([Record(kind=Kind.TOOL, tool_name="search", start_ns=T0, end_ns=T0 + 1)]))
    assert collector.requests == []  # nothing before the interval or the shutdown
    await run.exporter.shutdown()
    assert [r.signal for r in collector.requests] == ["metrics"]

    metrics = collector.metrics()
    duration = _metric(metrics, "gen_ai.client.operation.duration")
    assert duration.unit == "s"
    assert duration.histogram.aggregation_temporality == AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    (point,) = duration.histogram.data_points
    assert attributes_to_dict(point.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
    }
    assert point.count == 2 and point.sum == pytest.approx(3.3) and point.min == pytest.approx(0.3)
    assert list(point.explicit_bounds)[:3] == [0.01, 0.02, 0.04]
    assert len(point.bucket_counts) == len(point.explicit_bounds) + 1
    assert point.bucket_counts[5] == 1 and point.bucket_counts[9] == 1  # (0.16, 0.32] and (2.56, 5.12]
    assert point.time_unix_nano >= point.start_time_unix_nano > 0

    tokens = _metric(metrics, "gen_ai.client.token.usage")
    assert tokens.unit == "{token}"
    by_type = {attributes_to_dict(p.attributes)["gen_ai.token.type"]: p for p in tokens.histogram.data_points}
    assert by_type["input"].sum == 200 and by_type["input"].count == 2
    assert by_type["output"].sum == 40 and list(by_type["output"].bucket_counts)[:4] == [0, 0, 0, 2]
    ttfc = _metric(metrics, "gen_ai.client.operation.time_to_first_chunk")
    assert ttfc.histogram.data_points[0].sum == pytest.approx(0.15)
    assert run.value("gateway_exporter_metric_points_total", outcome="sent") == 4


async def test_delta_metrics_start_from_zero_each_interval(collector: FakeOtlpCollector) -> None:
    run = await start_exporter(
        collector, traces={"enabled": False}, metrics={"interval": "50ms", "temporality": "delta"}
    )

    def durations() -> list[int]:
        return [p.count for p in _metrics_named(collector, "gen_ai.client.operation.duration")]

    await run.exporter.consume(Batch([llm(1), llm(2)]))
    await collector.wait(lambda: durations() == [2])
    await run.exporter.consume(Batch([llm(3)]))
    await collector.wait(lambda: durations() == [2, 1])
    await run.exporter.shutdown()
    assert durations() == [2, 1]  # empty intervals send nothing, and the shutdown had nothing new
    first, second = _metrics_named(collector, "gen_ai.client.operation.duration")
    assert second.start_time_unix_nano >= first.time_unix_nano


def _metrics_named(collector: FakeOtlpCollector, name: str) -> list[Any]:
    return [
        p
        for req in collector.metrics()
        for rm in req.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == name
        for p in m.histogram.data_points
    ]


async def test_records_count_once_in_metrics_however_often_traces_are_retried(collector: FakeOtlpCollector) -> None:
    collector.respond = lambda signal, n: (
        Answer(http_status=503, headers={"Retry-After": "0"}) if signal == "traces" and n < 2 else None
    )
    run = await start_exporter(collector)
    await run.exporter.consume(Batch([llm(1)]))
    await run.exporter.shutdown()
    assert [r.answered for r in collector.requests if r.signal == "traces"] == [503, 503, 200]
    assert [p.count for p in _metrics_named(collector, "gen_ai.client.operation.duration")] == [1]


async def test_failed_metrics_export_is_retried(collector: FakeOtlpCollector) -> None:
    collector.respond = lambda signal, n: (
        Answer(http_status=429, headers={"Retry-After": "0"}) if signal == "metrics" and n == 0 else None
    )
    run = await start_exporter(collector, traces={"enabled": False})
    await run.exporter.consume(Batch([llm(1)]))
    await run.exporter.shutdown()
    assert [r.answered for r in collector.requests] == [429, 200]
    assert run.value("gateway_exporter_metric_points_total", outcome="sent") == 3


async def test_permanently_refused_metrics_are_counted(collector: FakeOtlpCollector) -> None:
    collector.respond = lambda signal, n: Answer(http_status=400)
    run = await start_exporter(collector, traces={"enabled": False})
    await run.exporter.consume(Batch([llm(1)]))
    await run.exporter.shutdown()
    assert len(collector.requests) == 1
    assert run.value("gateway_exporter_metric_points_total", outcome="failed") == 3


# --- content, splitting, queue ------------------------------------------------------------------


async def test_content_rules(collector: FakeOtlpCollector) -> None:
    run = await start_exporter(collector, metrics={"enabled": False})
    stripped = chat_record()
    stripped.metadata["sigil.sdk.content_capture_mode"] = "metadata_only"
    await run.exporter.consume(Batch([chat_record(), stripped]))
    await run.exporter.shutdown()
    full, bare = (attributes_to_dict(span.attributes) for _, _, span in collector.spans())
    assert {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"} <= set(full)
    assert not CONTENT_ATTRS & set(bare)
    assert bare["gen_ai.usage.output_tokens"] == 50  # everything else is still there

    collector.requests.clear()
    run = await start_exporter(collector, include_content=False, metrics={"enabled": False})
    await run.exporter.consume(Batch([chat_record()]))
    await run.exporter.shutdown()
    ((_, _, span),) = collector.spans()
    assert not CONTENT_ATTRS & set(attributes_to_dict(span.attributes))


async def test_large_batches_are_split_into_requests_under_the_limit(collector: FakeOtlpCollector) -> None:
    run = await start_exporter(collector, max_request_size="8KiB", compression="none", metrics={"enabled": False})
    records = [dataclasses.replace(chat_record(), span_id=f"{n:016x}", id=f"gen_{n}") for n in range(1, 41)]
    await run.exporter.consume(Batch(records))
    await run.exporter.shutdown()
    assert len(collector.requests) > 2
    assert all(len(r.raw) <= 8 * 1024 for r in collector.requests)
    assert sorted(span.span_id.hex() for _, _, span in collector.spans()) == [f"{n:016x}" for n in range(1, 41)]
    assert run.value("gateway_exporter_sent_records_total") == 40


async def test_queue_drains_before_the_final_metrics(collector: FakeOtlpCollector) -> None:
    run = await start_exporter(collector, "grpc", sending_queue={"queue_size": 10})
    for n in range(5):
        await run.exporter.consume(Batch([llm(n)]))
    await run.exporter.shutdown()
    await run.exporter.shutdown()  # idempotent
    assert len(collector.spans()) == 5
    assert collector.requests[-1].signal == "metrics"
    assert [p.count for p in _metrics_named(collector, "gen_ai.client.operation.duration")] == [5]


async def test_shutdown_without_start_is_safe(collector: FakeOtlpCollector) -> None:
    telemetry = Telemetry()
    cfg = _config({"endpoint": _endpoint(collector, "grpc")})
    exporter = OtlpExporter(CreateSettings(id=ComponentId(EXPORTER), telemetry=telemetry), cfg)
    await exporter.shutdown()
    assert collector.requests == []


async def test_compressed_http_body_is_plain_gzip(collector: FakeOtlpCollector) -> None:
    run = await start_exporter(collector, metrics={"enabled": False})
    await run.exporter.consume(Batch([llm(1)]))
    await run.exporter.shutdown()
    (req,) = collector.requests
    assert gzip.decompress(req.raw) == req.data
