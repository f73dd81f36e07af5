"""Real instrumentation packages around the real ``openai`` client, against a fake OpenAI server,
exporting with the OpenTelemetry SDK's OTLP exporters to a gateway started here, which sends
to a fake Sigil backend and a file.

Checked per instrumentation: provider, request and response models, tokens (cache and reasoning
too), input and output messages, tool calls and definitions, finish reasons, errors and ids.

The clients and instrumentations are imported inside the tests: they add about 70 MiB to the test
process, which other tests' gateways (with a 256 MiB memory limiter) would otherwise count.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import orjson
import pytest
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.model import Kind, PartKind, Record, Role
from gateway.model import Status as RecordStatus
from gateway.service import Service
from tests.conftest import StartGateway, http_port
from tests.fake_llm import (
    ANTHROPIC_RESPONSE_MODEL,
    RATE_LIMITED_MODEL,
    RESPONSE_MODEL,
    TOOL_ARGUMENTS,
    FakeOpenAI,
)
from tests.fakes import FakeSigilBackend
from tests.jsonl import file_records

ANY = "127.0.0.1:0"
TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def capture_content() -> Iterator[None]:
    name = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
    old = os.environ.get(name)
    os.environ[name] = "true"
    yield
    if old is None:
        del os.environ[name]
    else:
        os.environ[name] = old


async def start(start_gateway: StartGateway, sigil: FakeSigilBackend, out: pathlib.Path, **otlp: Any) -> Service:
    return await start_gateway(
        {
            "receivers": {"otlp": {"grpc": None, "http": {"endpoint": ANY}, **otlp}},
            "exporters": {
                "sigil": {"endpoint": f"http://127.0.0.1:{sigil.grpc_port}"},
                "file": {"path": str(out)},
            },
            "service": {"pipelines": {"p": {"receivers": ["otlp"], "exporters": ["sigil", "file"]}}},
        }
    )


def chat_calls(fake: FakeOpenAI) -> None:
    """One chat call answered with a tool call, one refused with a 429."""
    import openai

    client = openai.OpenAI(base_url=fake.base_url, api_key="test-key", max_retries=0)
    client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"}],
        tools=TOOLS,
        temperature=0.2,
        max_tokens=200,
    )
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model=RATE_LIMITED_MODEL, messages=[{"role": "user", "content": "x"}])
    client.close()


def traced(
    service: Service | None, instrument: Callable[[TracerProvider], Callable[[], None]], fake: FakeOpenAI
) -> list[ReadableSpan]:
    """Runs the calls with ``instrument`` on, exporting OTLP/HTTP to the gateway (when given); the
    spans sent."""
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    if service is not None:
        endpoint = f"http://127.0.0.1:{http_port(service)}/v1/traces"
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    uninstrument = instrument(provider)
    try:
        chat_calls(fake)
    finally:
        uninstrument()
        provider.shutdown()
    return list(memory.get_finished_spans())


def assert_chat_record(record: Record, *, system_in_input: bool = False, finish: str = "tool_calls") -> None:
    assert (record.kind, record.provider, record.model) == (Kind.LLM, "openai", "gpt-4o")
    assert record.response_model == RESPONSE_MODEL
    u = record.usage
    assert (u.input_tokens, u.output_tokens, u.cache_read_input_tokens, u.reasoning_tokens) == (1000, 50, 900, 20)
    assert u.input_includes_cache is True
    assert record.stop_reason == finish
    assert record.max_tokens == 200 and record.temperature == pytest.approx(0.2)
    texts = [(m.role, p.text) for m in record.input for p in m.parts if p.kind is PartKind.TEXT]
    assert (Role.USER, "Weather in Paris?") in texts
    assert record.system_prompt == "Be brief." or (system_in_input and (Role.SYSTEM, "Be brief.") in texts)
    (call,) = [p for m in record.output for p in m.parts if p.kind is PartKind.TOOL_CALL]
    assert (call.tool_call_id, call.tool_name) == ("call_1", "get_weather")
    assert orjson.loads(call.tool_input_json) == orjson.loads(TOOL_ARGUMENTS)
    (tool,) = record.tools
    assert (tool.name, tool.description) == ("get_weather", "Weather for a city")
    assert record.response_id == "chatcmpl-1" or record.response_id == ""
    assert orjson.loads(tool.input_schema_json) == TOOLS[0]["function"]["parameters"]


def assert_rate_limited(record: Record) -> None:
    assert record.model == RATE_LIMITED_MODEL
    assert record.status is RecordStatus.RATE_LIMITED
    assert "429" in record.error_message


def _openinference(provider: TracerProvider) -> Callable[[], None]:
    from openinference.instrumentation.openai import OpenAIInstrumentor

    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    return lambda: instrumentor.uninstrument()


async def test_openinference_openai(
    start_gateway: StartGateway, sigil_backend: FakeSigilBackend, fake_openai: FakeOpenAI, tmp_path: pathlib.Path
) -> None:
    out = tmp_path / "records.jsonl"
    service = await start(start_gateway, sigil_backend, out)
    spans = await asyncio.to_thread(traced, service, _openinference, fake_openai)
    assert len(spans) == 2
    ok, limited = sorted(await file_records(out, 2), key=lambda r: r.start_ns or 0)
    assert_chat_record(ok)
    assert_rate_limited(limited)
    assert ok.span_id == f"{spans[0].context.span_id:016x}"
    await sigil_backend.wait_for(2)
    gen = next(g for g in sigil_backend.generations() if g.model.name == "gpt-4o")
    assert (gen.model.provider, gen.response_model, gen.stop_reason) == ("openai", RESPONSE_MODEL, "tool_calls")
    # The default Sigil target (sigil-2026-03) has no input_semantics: input goes out exclusive of the cache.
    assert (gen.usage.input_tokens, gen.usage.cache_read_input_tokens, gen.usage.reasoning_tokens) == (100, 900, 20)
    assert gen.system_prompt == "Be brief." and [t.name for t in gen.tools] == ["get_weather"]
    assert [p.tool_call.name for m in gen.output for p in m.parts if p.HasField("tool_call")] == ["get_weather"]


def traced_with_logs(
    service: Service, instrument: Callable[[TracerProvider, LoggerProvider], Callable[[], None]], fake: FakeOpenAI
) -> tuple[list[ReadableSpan], int]:
    """As :func:`traced`, with a logger provider exporting OTLP/HTTP logs (events) too; the spans
    and the number of log records sent."""
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    base = f"http://127.0.0.1:{http_port(service)}"
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=base + "/v1/traces")))
    logs = LoggerProvider()
    log_memory = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    logs.add_log_record_processor(SimpleLogRecordProcessor(log_memory))
    logs.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=base + "/v1/logs")))
    uninstrument = instrument(provider, logs)
    try:
        chat_calls(fake)
    finally:
        uninstrument()
        provider.shutdown()
        logs.shutdown()
    return list(memory.get_finished_spans()), len(log_memory.get_finished_logs())


def _openai_v2(provider: TracerProvider, logs: LoggerProvider) -> Callable[[], None]:
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    instrumentor = OpenAIInstrumentor()  # type: ignore[no-untyped-call]
    instrumentor.instrument(tracer_provider=provider, logger_provider=logs)
    return lambda: instrumentor.uninstrument()


async def test_openai_v2_content_as_log_events(
    start_gateway: StartGateway,
    sigil_backend: FakeSigilBackend,
    fake_openai: FakeOpenAI,
    tmp_path: pathlib.Path,
    capture_content: None,
) -> None:
    out = tmp_path / "records.jsonl"
    service = await start(start_gateway, sigil_backend, out)
    spans, n_logs = await asyncio.to_thread(traced_with_logs, service, _openai_v2, fake_openai)
    assert len(spans) == 2 and n_logs == 4  # system, user, choice; user of the refused call
    ok, limited = sorted(await file_records(out, 2), key=lambda r: r.start_ns or 0)
    # openai-v2 sends gen_ai.* attributes on the span and the content as events.
    assert (ok.kind, ok.provider, ok.model, ok.response_model) == (Kind.LLM, "openai", "gpt-4o", RESPONSE_MODEL)
    assert (ok.usage.input_tokens, ok.usage.output_tokens, ok.stop_reason) == (1000, 50, "tool_calls")
    assert ok.system_prompt == "Be brief."
    assert [(m.role, p.text) for m in ok.input for p in m.parts] == [(Role.USER, "Weather in Paris?")]
    (call,) = [p for m in ok.output for p in m.parts]
    assert (call.kind, call.tool_call_id, call.tool_name) == (PartKind.TOOL_CALL, "call_1", "get_weather")
    assert (ok.response_id, ok.span_id) == ("chatcmpl-1", f"{spans[0].context.span_id:016x}")
    assert_rate_limited_v2(limited)
    assert joins(service, "joined") == 2
    await sigil_backend.wait_for(2)
    gen = next(g for g in sigil_backend.generations() if g.model.name == "gpt-4o")
    assert gen.system_prompt == "Be brief." and gen.stop_reason == "tool_calls"
    assert [p.text for m in gen.input for p in m.parts] == ["Weather in Paris?"]
    assert [p.tool_call.id for m in gen.output for p in m.parts] == ["call_1"]


def assert_rate_limited_v2(record: Record) -> None:
    assert record.model == RATE_LIMITED_MODEL and record.error_type == "RateLimitError"
    assert record.status is RecordStatus.RATE_LIMITED
    assert [(m.role, p.text) for m in record.input for p in m.parts] == [(Role.USER, "x")]


def joins(service: Service, outcome: str) -> float:
    labels = {"receiver": "otlp", "outcome": outcome}
    return service.telemetry.registry.get_sample_value("gateway_receiver_joins_total", labels) or 0.0


def _traceloop(provider: TracerProvider) -> Callable[[], None]:
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    instrumentor = OpenAIInstrumentor()
    with warnings.catch_warnings():
        # It imports pydantic models with class-based config (a deprecation warning) when enabled.
        warnings.simplefilter("ignore", DeprecationWarning)
        instrumentor.instrument(tracer_provider=provider)
    return lambda: instrumentor.uninstrument()


async def test_traceloop_openai(
    start_gateway: StartGateway, sigil_backend: FakeSigilBackend, fake_openai: FakeOpenAI, tmp_path: pathlib.Path
) -> None:
    out = tmp_path / "records.jsonl"
    service = await start(start_gateway, sigil_backend, out)
    spans = await asyncio.to_thread(traced, service, _traceloop, fake_openai)
    assert len(spans) == 2
    ok, limited = sorted(await file_records(out, 2), key=lambda r: r.start_ns or 0)
    # OpenLLMetry writes the conventions' names, its own gen_ai.is_streaming and total tokens, and
    # the conventions' finish-reason value.
    assert_chat_record(ok, system_in_input=True, finish="tool_call")
    assert (ok.stream, ok.usage.total_tokens, ok.response_id) == (False, 1050, "chatcmpl-1")
    assert_rate_limited(limited)
    assert limited.error_type == "RateLimitError"
    await sigil_backend.wait_for(2)
    gen = next(g for g in sigil_backend.generations() if g.model.name == "gpt-4o")
    # The default Sigil target (sigil-2026-03) has no input_semantics: input goes out exclusive of the cache.
    assert (gen.usage.input_tokens, gen.usage.cache_read_input_tokens, gen.usage.reasoning_tokens) == (100, 900, 20)
    assert gen.stop_reason == "tool_call" and [t.name for t in gen.tools] == ["get_weather"]


def anthropic_calls(fake: FakeOpenAI, provider: TracerProvider) -> None:
    """Two answered calls and one refused with a 429, with the SDK's own tracing on (its default)."""
    import anthropic

    client = anthropic.Anthropic(
        base_url=f"http://127.0.0.1:{fake.port}",
        api_key="test-key",
        max_retries=0,
        open_telemetry={"tracer_provider": provider},
    )
    for _ in range(2):
        client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=300,
            system="Be brief.",
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[
                {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "input_schema": TOOLS[0]["function"]["parameters"],
                }
            ],
        )
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(model=RATE_LIMITED_MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}])
    client.close()


def traced_anthropic(service: Service, fake: FakeOpenAI) -> list[ReadableSpan]:
    from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor

    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    endpoint = f"http://127.0.0.1:{http_port(service)}/v1/traces"
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    instrumentor = AnthropicInstrumentor()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        instrumentor.instrument(tracer_provider=provider)
    try:
        anthropic_calls(fake, provider)
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    return list(memory.get_finished_spans())


async def test_traceloop_anthropic_and_the_sdks_own_tracing_give_one_record_per_call(
    start_gateway: StartGateway, sigil_backend: FakeSigilBackend, fake_openai: FakeOpenAI, tmp_path: pathlib.Path
) -> None:
    out = tmp_path / "records.jsonl"
    service = await start(start_gateway, sigil_backend, out)
    spans = await asyncio.to_thread(traced_anthropic, service, fake_openai)
    scopes = sorted({s.instrumentation_scope.name for s in spans if s.instrumentation_scope is not None})
    assert len(spans) == 6 and scopes == ["com.anthropic.sdk.python", "opentelemetry.instrumentation.anthropic"]
    records = sorted(await file_records(out, 3), key=lambda r: r.start_ns or 0)
    assert len(records) == 3
    # The first call: the SDK's span came alone (its partner's scope not seen yet) and was sent;
    # the twin that followed was dropped. Then both scopes are known and the twins are merged.
    assert joins(service, "duplicate_dropped") == 1 and joins(service, "duplicate_merged") == 2
    first, second, limited = records
    for record in (first, second):
        assert (record.provider, record.model, record.response_model) == (
            "anthropic",
            "claude-sonnet-4-5",
            ANTHROPIC_RESPONSE_MODEL,
        )
        u = record.usage
        assert (u.input_tokens, u.output_tokens, u.cache_read_input_tokens, u.cache_write_input_tokens) == (
            1050,
            40,
            900,
            50,
        )
    # The merged record is OpenLLMetry's (content, tool definitions with Anthropic's input_schema)
    # with what only the SDK's span had (server.address).
    assert second.extra["otlp.scope.name"] == "opentelemetry.instrumentation.anthropic"
    assert second.extra["otlp.attr.server.address"] == "127.0.0.1"
    assert second.stop_reason == "tool_call" and second.system_prompt == "Be brief."
    (tool,) = second.tools
    assert orjson.loads(tool.input_schema_json) == TOOLS[0]["function"]["parameters"]
    calls = [p for m in second.output for p in m.parts if p.kind is PartKind.TOOL_CALL]
    assert [(c.tool_call_id, c.tool_name) for c in calls] == [("toolu_1", "get_weather")]
    assert limited.status is RecordStatus.RATE_LIMITED and limited.model == RATE_LIMITED_MODEL
    await sigil_backend.wait_for(3)
    await asyncio.sleep(0.2)  # nothing more may come
    assert len(sigil_backend.generations()) == 3


def _traceloop_events(provider: TracerProvider, logs: LoggerProvider) -> Callable[[], None]:
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    instrumentor = OpenAIInstrumentor(use_attributes=False)  # content as log events
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        instrumentor.instrument(tracer_provider=provider, logger_provider=logs)
    return lambda: instrumentor.uninstrument()


async def test_traceloop_openai_content_as_log_events(
    start_gateway: StartGateway, sigil_backend: FakeSigilBackend, fake_openai: FakeOpenAI, tmp_path: pathlib.Path
) -> None:
    out = tmp_path / "records.jsonl"
    service = await start(start_gateway, sigil_backend, out)
    spans, n_logs = await asyncio.to_thread(traced_with_logs, service, _traceloop_events, fake_openai)
    # 4 events, and 4 more for each earlier Traceloop instrumentation in the same process (its
    # uninstrument leaves a wrapper whose events name spans of its shut-down provider; they expire
    # in the join buffer, unmatched): the count depends on which tests ran before.
    assert len(spans) == 2 and n_logs >= 4 and n_logs % 4 == 0, n_logs
    ok, limited = sorted(await file_records(out, 2), key=lambda r: r.start_ns or 0)
    assert ok.system_prompt == "Be brief." and ok.stop_reason == "tool_call"
    assert [(m.role, p.text) for m in ok.input for p in m.parts] == [(Role.USER, "Weather in Paris?")]
    (call,) = [p for m in ok.output for p in m.parts]
    assert (call.kind, call.tool_call_id, call.tool_name) == (PartKind.TOOL_CALL, "call_1", "get_weather")
    assert (ok.usage.cache_read_input_tokens, ok.usage.reasoning_tokens) == (900, 20)
    assert_rate_limited_v2(limited)
    await sigil_backend.wait_for(2)
