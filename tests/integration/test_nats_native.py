"""Through the NATS tier without records: an edge publishes what its receiver handed on untranslated
(``otlp_proto``, ``sigil_proto``), and a backend whose consumers take the same native kind hands
the message body on as it came (``MessageCodec.native_decoders``); anything else, and any body the
format would refuse or change, takes the records path."""

from __future__ import annotations

import logging
from typing import Any

import grpc
import nats
import orjson
import pytest
from google.protobuf import json_format
from nats.js import api
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench import payloads
from gateway import nats_encodings
from gateway._proto.sigil.v1 import generation_ingest_pb2 as pb
from gateway.formats import otlp, sigil
from gateway.formats.otlp import native as otlp_native
from gateway.formats.sigil import native as sigil_native
from gateway.service import Service
from tests.conftest import StartGateway, grpc_port
from tests.fakes import FakeSigilBackend
from tests.formats.otlp.test_native import normalized, records_export
from tests.integration.test_nats import server
from tests.integration.test_otlp import collector
from tests.integration.test_otlp_native import decoded
from tests.nats_servers import NatsServer
from tests.otlp_fakes import FakeOtlpCollector

__all__ = ["collector", "decoded", "server"]  # the fixtures, for the tests here
ANY = "127.0.0.1:0"
OTLP = {"otlp": {"grpc": {"endpoint": ANY}, "http": None}}
SIGIL = {"sigil": {"grpc": {"endpoint": ANY}, "http": None}}


def _tier(url: str, receiver: dict[str, Any], encoding: str, exporter: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    edge = {
        "receivers": receiver,
        "exporters": {"nats": {"url": url, "encoding": encoding, "deduplicate": False}},
        "service": {"pipelines": {"p": {"receivers": list(receiver), "exporters": ["nats"]}}},
    }
    backend = {
        "receivers": {"nats": {"url": url, "fetch_wait": "250ms"}},
        "exporters": exporter,
        "service": {"pipelines": {"p": {"receivers": ["nats"], "exporters": list(exporter)}}},
    }
    return edge, backend


def _otlp_exporter(collector: FakeOtlpCollector) -> dict[str, Any]:
    return {"otlp": {"endpoint": f"http://127.0.0.1:{collector.grpc_port}", "protocol": "grpc", "compression": "none"}}


async def _call(service: Service, method: str, body: bytes) -> bytes:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port(service)}") as channel:
        answer: bytes = await channel.unary_unary(method)(body, timeout=10)
        return answer


TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
GENERATIONS = "/sigil.v1.GenerationIngestService/ExportGenerations"


def _generations(n: int) -> bytes:
    """The bench's generations as a Sigil gRPC body."""
    request = pb.ExportGenerationsRequest()
    json_format.Parse(payloads.request_body(0, n), request)
    return request.SerializeToString()


async def test_otlp_spans_cross_the_tier_as_they_came(
    collector: FakeOtlpCollector,
    server: NatsServer,
    start_gateway: StartGateway,
    decoded: list[int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.receivers.nats")
    edge, backend = _tier(server.url, OTLP, "otlp_proto", _otlp_exporter(collector))
    await start_gateway(backend)
    said = [r.getMessage() for r in caplog.records if r.name == "gateway.receivers.nats"]
    assert "nats: message bodies of otlp.traces pass on as they came when their format would" in said
    entry = await start_gateway(edge)
    body = payloads.otlp_body(0, 20)
    await _call(entry, TRACES, body)
    await collector.wait_for_spans(20)
    assert decoded == []  # neither gateway made records
    assert [r.data for r in collector.accepted("traces")] == [body]  # nor wrote the spans again


async def test_otlp_spans_the_records_path_changes_take_it_at_the_backend(
    collector: FakeOtlpCollector, server: NatsServer, start_gateway: StartGateway, decoded: list[int]
) -> None:
    # Published by another producer: spans a gateway edge would have written otherwise.
    request = ExportTraceServiceRequest.FromString(payloads.otlp_body(0, 3))
    span = request.resource_spans[0].scope_spans[0].spans[1]
    next(kv for kv in span.attributes if kv.key == "gen_ai.provider.name").key = "gen_ai.system"
    nc = await nats.connect(server.url)
    await nc.jetstream().add_stream(api.StreamConfig(name="LLM_TELEMETRY", subjects=["llm.telemetry.*"]))
    await nc.jetstream().publish(
        "llm.telemetry._", request.SerializeToString(), headers={nats_encodings.HEADER: "otlp/traces"}
    )
    await nc.close()
    _, backend = _tier(server.url, OTLP, "otlp_proto", _otlp_exporter(collector))
    await start_gateway(backend)
    await collector.wait_for_spans(3)
    assert decoded == [1]  # the backend made records
    arrived = ExportTraceServiceRequest()
    for r in collector.accepted("traces"):
        arrived.MergeFromString(r.data)
    assert normalized(arrived) == normalized(records_export(request))


async def test_sigil_generations_cross_the_tier_as_they_came(
    sigil_backend: FakeSigilBackend, server: NatsServer, start_gateway: StartGateway, monkeypatch: Any
) -> None:
    made: list[int] = []
    real = sigil.decode_generations_grpc

    def spy(data: bytes, **options: Any) -> Any:
        made.append(1)
        return real(data, **options)

    monkeypatch.setattr(sigil, "decode_generations_grpc", spy)  # the name the sigil_proto codec calls
    exporter = {"sigil": {"endpoint": f"http://127.0.0.1:{sigil_backend.grpc_port}", "protocol": "grpc"}}
    edge, backend = _tier(server.url, SIGIL, "sigil_proto", exporter)
    await start_gateway(backend)
    entry = await start_gateway(edge)
    body = _generations(10)
    await _call(entry, GENERATIONS, body)
    await sigil_backend.wait_for(10)
    assert made == []  # the backend's codec made no records
    sent = sigil_native.decode_generations_grpc_native(body)
    assert [g.SerializeToString() for g in sigil_backend.generations()] == [
        g.SerializeToString() for g in sent if isinstance(g, pb.Generation)
    ]


def test_a_body_goes_untranslated_only_when_its_format_would_hand_it_on() -> None:
    traces, generations = payloads.otlp_body(0, 2), _generations(2)
    kinds = frozenset({otlp_native.KIND, sigil_native.KIND})
    assert isinstance(nats_encodings.decode_native("otlp/traces", traces, kinds), otlp_native.OtlpTraces)
    assert isinstance(
        nats_encodings.decode_native("sigil/generations", generations, kinds), sigil_native.SigilGenerations
    )
    # Not a kind every consumer takes, not a body kind with natives, not a body that parses.
    assert nats_encodings.decode_native("otlp/traces", traces, frozenset({sigil_native.KIND})) is None
    assert nats_encodings.decode_native("record", orjson.dumps({}), kinds) is None
    assert nats_encodings.decode_native("otlp/traces", b"\xff\xff", kinds) is None
    assert nats_encodings.decode_native("sigil/generations", b"\xff\xff", kinds) is None
    # Spans the records path changes, a generation the Sigil server refuses.
    request = ExportTraceServiceRequest.FromString(traces)
    request.resource_spans[0].scope_spans[0].spans[0].name = "openai.chat"
    assert nats_encodings.decode_native("otlp/traces", request.SerializeToString(), kinds) is None
    bad = pb.ExportGenerationsRequest.FromString(generations)
    bad.generations[1].ClearField("model")
    assert nats_encodings.decode_native("sigil/generations", bad.SerializeToString(), kinds) is None
    assert otlp.decode_traces_protobuf(traces)  # (the bodies themselves are valid)
