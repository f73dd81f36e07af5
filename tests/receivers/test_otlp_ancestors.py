"""``keep_genai_ancestors``: the non-GenAI ancestors of GenAI spans pass, others are refused."""

from __future__ import annotations

import asyncio
import pathlib

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from gateway.formats.otlp import is_passthrough
from gateway.model import Kind, Record
from gateway.receivers._otlp_ancestors import Ancestors
from gateway.service import Service
from tests.conftest import StartGateway, http_port
from tests.jsonl import file_records


def rec(span: str, parent: str, passthrough: bool) -> Record:
    record = Record(kind=Kind.OTHER if passthrough else Kind.LLM, trace_id="t", span_id=span, parent_span_id=parent)
    if passthrough:
        record.extra["otlp.passthrough"] = True
    return record


def test_ancestors_in_the_same_and_later_requests() -> None:
    ancestors = Ancestors(max_pending=10)
    # child GenAI span, its parent in the same request, an unrelated span
    kept, refused = ancestors.filter([rec("c", "p", False), rec("p", "g", True), rec("x", "", True)])
    assert [r.span_id for r in kept] == ["c", "p"] and refused == 1
    # the grandparent comes later, alone
    kept, refused = ancestors.filter([rec("g", "", True)])
    assert [r.span_id for r in kept] == ["g"] and refused == 0 and len(ancestors) == 0


def test_bounded() -> None:
    ancestors = Ancestors(max_pending=2)
    ancestors.filter([rec(f"c{i}", f"p{i}", False) for i in range(5)])
    assert len(ancestors) == 2
    kept, refused = ancestors.filter([rec("p0", "", True), rec("p4", "", True)])
    assert [r.span_id for r in kept] == ["p4"] and refused == 1  # p0 was forgotten first


def emit(service: Service) -> None:
    provider = TracerProvider()
    endpoint = f"http://127.0.0.1:{http_port(service)}/v1/traces"
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    tracer = provider.get_tracer("app")
    with (
        tracer.start_as_current_span("GET /ask"),
        tracer.start_as_current_span("plan"),
        tracer.start_as_current_span("chat gpt-4o") as span,
    ):
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.request.model", "gpt-4o")
    with tracer.start_as_current_span("GET /health"):
        pass
    provider.shutdown()


async def test_whole_tree_reaches_an_otlp_capable_exporter(start_gateway: StartGateway, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "records.jsonl"
    service = await start_gateway(
        {
            "receivers": {"otlp": {"grpc": None, "http": {"endpoint": "127.0.0.1:0"}, "keep_genai_ancestors": True}},
            "exporters": {"file": {"path": str(out)}},
            "service": {"pipelines": {"p": {"receivers": ["otlp"], "exporters": ["file"]}}},
        }
    )
    await asyncio.to_thread(emit, service)
    records = await file_records(out, 3)
    assert sorted((r.name, is_passthrough(r)) for r in records) == [
        ("GET /ask", True),
        ("chat gpt-4o", False),
        ("plan", True),
    ]
    labels = {"receiver": "otlp", "transport": "http", "reason": "not_genai"}
    assert service.telemetry.registry.get_sample_value("gateway_receiver_ignored_records_total", labels) == 1
