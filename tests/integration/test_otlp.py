"""OTLP end to end with real clients.

* The OpenTelemetry Python SDK (its OTLP gRPC and HTTP exporters) sends chat, embeddings and
  execute_tool spans, with old attribute names too, to the ``otlp`` receiver; a Sigil exporter
  (fake Sigil backend) and a file exporter get the matching records.
* The real Sigil SDK sends generations to the ``sigil`` receiver; the ``otlp`` exporter (gRPC,
  HTTP protobuf, HTTP JSON) delivers them to a fake collector, where every attribute, the span
  name, ids, times and the metric points are checked after decoding with opentelemetry-proto.
* ``passthrough_non_genai``: a web-framework span arrives at the collector as the SDK sent it.
* The sigil and otlp receivers share one gRPC port.
"""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from sigil_sdk import GenerationExportConfig

from gateway.formats.otlp.values import attributes_to_dict, derive_id
from gateway.model import Kind, Role
from gateway.model import Status as RecordStatus
from gateway.service import Service
from tests.conftest import StartGateway, grpc_port, http_port
from tests.fakes import FakeSigilBackend
from tests.integration.test_sigil_sdk import _send_with_sdk
from tests.jsonl import file_records
from tests.otlp_fakes import FakeOtlpCollector

T0 = 1_795_424_400_000_000_000  # 2026-11-23T09:00:00Z
ANY = "127.0.0.1:0"
INPUT_MESSAGES = '[{"role":"user","parts":[{"type":"text","content":"Weather in Paris?"}]}]'
OUTPUT_MESSAGES = '[{"role":"assistant","parts":[{"type":"text","content":"18C and sunny."}],"finish_reason":"stop"}]'


@pytest.fixture
async def collector() -> AsyncIterator[FakeOtlpCollector]:
    fake = FakeOtlpCollector()
    await fake.start()
    yield fake
    await fake.stop()


# --- the OpenTelemetry SDK as the client ----------------------------------------------------------


def _emit_with_otel(exporter: SpanExporter) -> list[ReadableSpan]:
    """Blocking: a private TracerProvider emits one agent turn; returns the spans as the SDK made
    them (in the order they ended, which is the order they were exported)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "support-bot", "deployment.environment": "staging"})
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("opentelemetry.instrumentation.openai_v2", "2.1b0")
    try:
        root = tracer.start_span(
            "POST /chat",
            kind=SpanKind.SERVER,
            start_time=T0,
            attributes={"http.request.method": "POST", "http.route": "/chat", "http.response.status_code": 200},
        )
        root.add_event("request.accepted", {"queue.depth": 3}, timestamp=T0 + 1_000)
        parent = trace.set_span_in_context(root)
        chat = tracer.start_span(
            "chat gpt-4o",
            context=parent,
            kind=SpanKind.CLIENT,
            start_time=T0 + 1_000_000,
            attributes={
                # The names of instrumentations still on semconv <= 1.36.
                "gen_ai.operation.name": "chat",
                "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.request.max_tokens": 200,
                "gen_ai.request.temperature": 0.2,
                "gen_ai.usage.prompt_tokens": 120,
                "gen_ai.usage.completion_tokens": 30,
                "gen_ai.response.id": "chatcmpl-9",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.response.finish_reasons": ["stop"],
                "gen_ai.conversation.id": "conv-7",
                "gen_ai.input.messages": INPUT_MESSAGES,
                "gen_ai.output.messages": OUTPUT_MESSAGES,
                "server.address": "api.openai.com",
                "server.port": 443,
            },
        )
        chat.end(end_time=T0 + 801_000_000)
        embed = tracer.start_span(
            "embeddings text-embedding-3-small",
            context=parent,
            kind=SpanKind.CLIENT,
            start_time=T0 + 900_000_000,
            attributes={
                "gen_ai.operation.name": "embeddings",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "text-embedding-3-small",
                "gen_ai.usage.input_tokens": 8,
                "gen_ai.embeddings.dimension.count": 1536,
            },
        )
        embed.end(end_time=T0 + 950_000_000)
        tool = tracer.start_span(
            "execute_tool get_weather",
            context=parent,
            kind=SpanKind.INTERNAL,
            start_time=T0 + 960_000_000,
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "get_weather",
                "gen_ai.tool.call.id": "call_1",
                "gen_ai.tool.type": "function",
                "gen_ai.tool.call.arguments": '{"city":"Paris"}',
                "gen_ai.tool.call.result": '{"error":"upstream timeout"}',
                "error.type": "timeout",
            },
        )
        tool.set_status(Status(StatusCode.ERROR, "weather API timed out"))
        tool.end(end_time=T0 + 990_000_000)
        root.end(end_time=T0 + 1_000_000_000)
    finally:
        provider.shutdown()
    return list(memory.get_finished_spans())


def _otel_exporter(transport: str, service: Service, endpoint: str = ANY) -> SpanExporter:
    if transport == "grpc":
        port = grpc_port(service, endpoint)
        return GrpcSpanExporter(endpoint=f"127.0.0.1:{port}", insecure=True, compression=grpc.Compression.Gzip)
    port = http_port(service, endpoint)
    compression = HttpCompression.Gzip if transport == "http-gzip" else HttpCompression.NoCompression
    return HttpSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces", compression=compression)


def _metric(service: Service, name: str, **labels: str) -> float:
    return service.telemetry.registry.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize("transport", ["grpc", "http", "http-gzip"])
async def test_otel_sdk_spans_reach_sigil_and_file(
    transport: str, start_gateway: StartGateway, sigil_backend: FakeSigilBackend, tmp_path: pathlib.Path
) -> None:
    out = tmp_path / "records.jsonl"
    service = await start_gateway(
        {
            "receivers": {"otlp": {"grpc": {"endpoint": ANY}, "http": {"endpoint": ANY}}},
            "exporters": {
                "sigil": {"endpoint": f"http://127.0.0.1:{sigil_backend.grpc_port}"},
                "file": {"path": str(out)},
            },
            "service": {"pipelines": {"p": {"receivers": ["otlp"], "exporters": ["sigil", "file"]}}},
        }
    )
    sent = await asyncio.to_thread(_emit_with_otel, _otel_exporter(transport, service))
    by_name = {s.name: s for s in sent}
    records = {r.kind: r for r in await file_records(out, 3)}
    await sigil_backend.wait_for(1)

    chat_span = by_name["chat gpt-4o"]
    (gen,) = sigil_backend.generations()
    assert gen.trace_id == f"{chat_span.context.trace_id:032x}"
    assert gen.span_id == f"{chat_span.context.span_id:016x}"
    assert (gen.operation_name, gen.model.provider, gen.model.name) == ("chat", "openai", "gpt-4o")
    assert (gen.usage.input_tokens, gen.usage.output_tokens) == (120, 30)
    assert (gen.response_id, gen.response_model, gen.stop_reason) == ("chatcmpl-9", "gpt-4o-2024-08-06", "stop")
    assert gen.conversation_id == "conv-7" and gen.max_tokens == 200 and gen.temperature == pytest.approx(0.2)
    assert gen.started_at.ToNanoseconds() == T0 + 1_000_000
    assert gen.completed_at.ToNanoseconds() == T0 + 801_000_000
    assert [p.text for m in gen.input for p in m.parts] == ["Weather in Paris?"]
    assert [p.text for m in gen.output for p in m.parts] == ["18C and sunny."]

    assert set(records) == {Kind.LLM, Kind.EMBEDDING, Kind.TOOL}
    chat = records[Kind.LLM]
    assert chat.provider == "openai" and chat.usage.input_tokens == 120 and chat.environment == "staging"
    assert chat.parent_span_id == f"{by_name['POST /chat'].context.span_id:016x}"
    assert chat.extra["otlp.resource.service.name"] == "support-bot"
    assert chat.extra["otlp.scope.name"] == "opentelemetry.instrumentation.openai_v2"
    assert chat.extra["otlp.attr.server.address"] == "api.openai.com"
    assert [m.role for m in chat.output] == [Role.ASSISTANT]
    embedding = records[Kind.EMBEDDING]
    assert (embedding.model, embedding.usage.input_tokens) == ("text-embedding-3-small", 8)
    assert embedding.extra["otlp.attr.gen_ai.embeddings.dimension.count"] == 1536
    tool = records[Kind.TOOL]
    assert (tool.tool_name, tool.tool_call_id, tool.tool_type) == ("get_weather", "call_1", "function")
    assert (tool.tool_arguments_json, tool.tool_result_json) == (b'{"city":"Paris"}', b'{"error":"upstream timeout"}')
    assert (tool.status, tool.error_type, tool.error_message) == (
        RecordStatus.TIMEOUT,
        "timeout",
        "weather API timed out",
    )

    transport_label = "grpc" if transport == "grpc" else "http"
    labels = {"receiver": "otlp", "transport": transport_label}
    assert _metric(service, "gateway_receiver_accepted_records_total", **labels) == 3
    assert _metric(service, "gateway_receiver_ignored_records_total", reason="not_genai", **labels) == 1
    assert _metric(service, "gateway_receiver_refused_records_total", reason="not_genai", **labels) == 0
    # Sigil holds generations only: the embedding and the tool span are dropped and counted.
    assert _metric(service, "gateway_exporter_dropped_records_total", exporter="sigil", reason="unsupported_kind") == 2


# --- the Sigil SDK as the client, OTLP out --------------------------------------------------------


def _expected_attributes(n: int, gen_id: str, effective_version: str) -> dict[str, Any]:
    """Every attribute of the span for tests.integration.test_sigil_sdk._rich_generation(n)."""
    return {
        "gen_ai.operation.name": "chat",
        "gateway.operation.original": "generateText",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.conversation.id": f"conv-{n}",
        "gen_ai.agent.name": "planner",
        "gen_ai.agent.version": "2026.11",
        "gen_ai.request.max_tokens": 1024,
        "gen_ai.request.temperature": 0.0,
        "gen_ai.request.top_p": 0.9,
        # gen_ai.request.stream is left out: the conventions set it only when streaming.
        "gen_ai.response.id": f"msg_{n}",
        "gen_ai.response.model": "claude-sonnet-4-5-20250929",
        "gen_ai.response.finish_reasons": ["stop"],  # Anthropic's end_turn, as the conventions say it
        # Sigil does not say whether its input count includes the cache: the cache is added.
        "gen_ai.usage.input_tokens": 120 + 100 + 7,
        "gen_ai.usage.output_tokens": 40,
        "gen_ai.usage.cache_read.input_tokens": 100,
        "gen_ai.usage.cache_creation.input_tokens": 7,
        "gen_ai.usage.reasoning.output_tokens": 12,
        "user.id": "user-42",
        "sigil.generation.id": gen_id,
        "sigil.gen_ai.request.tool_choice": "auto",
        "sigil.gen_ai.request.thinking.enabled": True,
        "sigil.generation.parent_generation_ids": ["gen_parent1", "gen_parent2"],
        "gateway.effective_version": effective_version,
        "gateway.usage.total_tokens": 160,
        "gateway.tag.team": "a",
        "gateway.tag.env": "test",
        "gateway.metadata.sigil.conversation.title": "Weather in Paris",
        "gateway.metadata.request_id": f"r-{n}",
        "gateway.metadata.sigil.user.id": "user-42",
        "gateway.metadata.sigil.sdk.name": "sdk-python",
        "gateway.metadata.nested": {"k": [1, "two", True]},
        "gateway.metadata.sigil.sdk.content_capture_mode": "no_tool_content",
        "gen_ai.system_instructions": '[{"type":"text","content":"You are terse."}]',
        "gen_ai.input.messages": (
            '[{"role":"user","parts":[{"type":"text","content":"Paris?"}]},'
            '{"role":"tool","parts":[{"type":"tool_call_response","id":"call_1","response":{"temp_c":18}}]}]'
        ),
        "gen_ai.output.messages": (
            '[{"role":"assistant","parts":[{"type":"reasoning","content":"User wants weather."},'
            '{"type":"tool_call","id":"call_1","name":"weather","arguments":{"city":"Paris"}},'
            '{"type":"text","content":"It is 18C and sunny."}],"finish_reason":"stop"}]'
        ),
        "gen_ai.tool.definitions": (
            '[{"type":"function","name":"weather","description":"Current weather",'
            '"parameters":{"type":"object","properties":{"city":{"type":"string"}}}}]'
        ),
        "sigil.conversation.title": "Weather in Paris",
    }


@pytest.mark.parametrize(
    ("protocol", "temporality"),
    [("grpc", "cumulative"), ("http/protobuf", "delta"), ("http/json", "cumulative")],
)
async def test_sigil_sdk_generations_exported_as_otlp(
    protocol: str, temporality: str, start_gateway: StartGateway, collector: FakeOtlpCollector
) -> None:
    port = collector.grpc_port if protocol == "grpc" else collector.http_port
    service = await start_gateway(
        {
            "receivers": {"sigil": {"http": {"endpoint": ANY}, "grpc": None}},
            "exporters": {
                "otlp": {
                    "endpoint": f"http://127.0.0.1:{port}",
                    "protocol": protocol,
                    "metrics": {"temporality": temporality, "interval": "1h"},
                }
            },
            "service": {"pipelines": {"p": {"receivers": ["sigil"], "exporters": ["otlp"]}}},
        }
    )
    export = GenerationExportConfig(
        protocol="http",
        endpoint=f"http://127.0.0.1:{http_port(service)}/api/v1/generations:export",
        flush_interval=timedelta(milliseconds=50),
    )
    sent, logs = await asyncio.to_thread(_send_with_sdk, export, 3)
    assert not [line for line in logs if "rejected" in line or "failed" in line], logs
    await collector.wait_for_spans(3)
    await service.shutdown()  # the last metrics collection goes out now

    spans = sorted(collector.spans(), key=lambda item: attributes_to_dict(item[2].attributes)["gen_ai.conversation.id"])
    assert len(spans) == 3
    for n, ((resource, scope, span), gen) in enumerate(zip(spans, sent, strict=True)):
        assert attributes_to_dict(resource.attributes) == {"service.name": "llm-telemetry-gateway"}
        assert (scope.name, scope.version) == ("llm-telemetry-gateway", "")
        assert span.name == "chat claude-sonnet-4-5"
        assert span.kind == span.SPAN_KIND_CLIENT
        # The SDK sent no ids: they are derived from the generation id, the same on every retry.
        assert span.trace_id == derive_id(b"trace", "id\0" + gen.id, 16)
        assert span.span_id == derive_id(b"span", "id\0" + gen.id, 8)
        assert span.parent_span_id == b""
        assert span.start_time_unix_nano == gen.started_at.ToNanoseconds()
        assert span.end_time_unix_nano == gen.completed_at.ToNanoseconds()
        assert span.status.code == span.status.STATUS_CODE_UNSET
        assert attributes_to_dict(span.attributes) == _expected_attributes(n, gen.id, gen.effective_version)
        assert len(span.attributes) == len(_expected_attributes(n, gen.id, gen.effective_version))  # no duplicates

    points = {
        (m.name, m.unit, attributes_to_dict(p.attributes).get("gen_ai.token.type", "")): (m, p)
        for req in collector.metrics()
        for rm in req.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        for p in m.histogram.data_points
    }
    assert set(points) == {
        ("gen_ai.client.operation.duration", "s", ""),
        ("gen_ai.client.token.usage", "{token}", "input"),
        ("gen_ai.client.token.usage", "{token}", "output"),
    }
    want_temporality = (
        AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
        if temporality == "delta"
        else AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    )
    base = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.response.model": "claude-sonnet-4-5-20250929",
    }
    metric, duration = points[("gen_ai.client.operation.duration", "s", "")]
    assert metric.histogram.aggregation_temporality == want_temporality
    assert attributes_to_dict(duration.attributes) == base
    assert duration.count == 3 and duration.sum == pytest.approx(3 * 1.0005)
    assert duration.min == pytest.approx(1.0005) and duration.max == pytest.approx(1.0005)
    assert list(duration.bucket_counts) == [0] * 7 + [3] + [0] * 7  # (0.64, 1.28]
    assert list(duration.explicit_bounds) == [
        0.01,
        0.02,
        0.04,
        0.08,
        0.16,
        0.32,
        0.64,
        1.28,
        2.56,
        5.12,
        10.24,
        20.48,
        40.96,
        81.92,
    ]
    metric, tokens_in = points[("gen_ai.client.token.usage", "{token}", "input")]
    assert metric.histogram.aggregation_temporality == want_temporality
    assert attributes_to_dict(tokens_in.attributes) == {**base, "gen_ai.token.type": "input"}
    assert (tokens_in.count, tokens_in.sum) == (3, 3 * 227)
    assert list(tokens_in.bucket_counts) == [0] * 4 + [3] + [0] * 10  # (64, 256]
    _, tokens_out = points[("gen_ai.client.token.usage", "{token}", "output")]
    assert (tokens_out.count, tokens_out.sum) == (3, 120)
    assert list(tokens_out.bucket_counts) == [0] * 3 + [3] + [0] * 11  # (16, 64]
    assert tokens_out.time_unix_nano > tokens_out.start_time_unix_nano > 0


# --- pass-through and the shared gRPC port -------------------------------------------------------


async def test_passthrough_sends_non_genai_spans_on_unchanged(
    start_gateway: StartGateway, collector: FakeOtlpCollector, sigil_backend: FakeSigilBackend
) -> None:
    service = await start_gateway(
        {
            "receivers": {"otlp": {"http": {"endpoint": ANY}, "grpc": None, "passthrough_non_genai": True}},
            "exporters": {
                "otlp": {
                    "endpoint": f"http://127.0.0.1:{collector.http_port}",
                    "protocol": "http/protobuf",
                    "metrics": {"enabled": False},
                },
                "sigil": {"endpoint": f"http://127.0.0.1:{sigil_backend.grpc_port}"},
            },
            "service": {"pipelines": {"p": {"receivers": ["otlp"], "exporters": ["otlp", "sigil"]}}},
        }
    )
    sent = await asyncio.to_thread(_emit_with_otel, _otel_exporter("http", service))
    await collector.wait_for_spans(4)
    await sigil_backend.wait_for(1)

    (root,) = [s for s in sent if s.name == "POST /chat"]
    want = encode_spans([root]).resource_spans[0]
    arrived = {span.name: (resource, scope, span) for resource, scope, span in collector.spans()}
    resource, scope, span = arrived["POST /chat"]
    assert span == want.scope_spans[0].spans[0]  # every field: ids, times, kind, attributes, events
    assert scope == want.scope_spans[0].scope
    # The resource is the SDK's, except that the deprecated environment name is renamed, as for
    # every span the gateway sends (docs/mapping.md).
    want_resource = attributes_to_dict(want.resource.attributes)
    want_resource["deployment.environment.name"] = want_resource.pop("deployment.environment")
    assert attributes_to_dict(resource.attributes) == want_resource
    assert set(arrived) == {s.name for s in sent}
    assert (
        _metric(
            service, "gateway_receiver_ignored_records_total", receiver="otlp", transport="http", reason="not_genai"
        )
        == 0
    )
    # Sigil takes the chat generation only; the pass-through span is not one.
    assert len(sigil_backend.generations()) == 1
    assert _metric(service, "gateway_exporter_dropped_records_total", exporter="sigil", reason="unsupported_kind") == 3


async def test_sigil_and_otlp_receivers_share_one_grpc_port(
    start_gateway: StartGateway, tmp_path: pathlib.Path
) -> None:
    out = tmp_path / "records.jsonl"
    service = await start_gateway(
        {
            "receivers": {
                "sigil": {"grpc": {"endpoint": ANY}, "http": None},
                "otlp": {"grpc": {"endpoint": ANY}, "http": None},
            },
            "exporters": {"file": {"path": str(out)}},
            "service": {"pipelines": {"p": {"receivers": ["sigil", "otlp"], "exporters": ["file"]}}},
        }
    )
    assert list(service.listeners.grpc) == [ANY]  # one server with both services
    port = grpc_port(service)
    export = GenerationExportConfig(
        protocol="grpc", endpoint=f"127.0.0.1:{port}", insecure=True, flush_interval=timedelta(milliseconds=50)
    )
    await asyncio.to_thread(_send_with_sdk, export, 1)
    await asyncio.to_thread(_emit_with_otel, _otel_exporter("grpc", service))
    records = await file_records(out, 4)
    accepted = {
        name: _metric(service, "gateway_receiver_accepted_records_total", receiver=name, transport="grpc")
        for name in ("sigil", "otlp")
    }
    assert accepted == {"sigil": 1, "otlp": 3}
    assert sorted(r.kind.value for r in records) == ["embedding", "llm", "llm", "tool"]
