"""Realistic Sigil generations for load tests: ~1.8 KB of protojson each."""

from __future__ import annotations

import random
from typing import Any

_TEXT = (
    "the weather in paris is mild today with light wind from the west and a chance of rain "
    "later please summarise the quarterly report focusing on revenue growth churn and hiring"
)
_WORDS = tuple(_TEXT.split(" "))


# Content per generation: None keeps the default (~1.3 KB of prompt and output text); a number
# of bytes makes the input and output texts about that long together (bench.curves sets it).
CONTENT_BYTES: int | None = None
_AVG_WORD = 6  # bytes per word of _TEXT, space included


def _text(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n_words))


def _content_words(default_in: int, default_out: int) -> tuple[int, int]:
    if CONTENT_BYTES is None:
        return default_in, default_out
    words = max(2, CONTENT_BYTES // _AVG_WORD)
    return max(1, words * 2 // 5), max(1, words - words * 2 // 5)


def generation(i: int, rng: random.Random | None = None) -> dict[str, Any]:
    rng = rng or random.Random(i)
    n_in, n_out = _content_words(80, 110)
    return {
        "id": f"gen_{i:016x}",
        "conversation_id": f"conv-{i % 997}",
        "operation_name": "generateText",
        "mode": "GENERATION_MODE_SYNC",
        "trace_id": f"{rng.getrandbits(128):032x}",
        "span_id": f"{rng.getrandbits(64):016x}",
        "model": {"provider": "openai", "name": "gpt-4o"},
        "response_id": f"chatcmpl-{i}",
        "response_model": "gpt-4o-2024-08-06",
        "system_prompt": "You are a helpful assistant. " + _text(rng, 20),
        "input": [{"role": "MESSAGE_ROLE_USER", "parts": [{"text": _text(rng, n_in)}]}],
        "output": [{"role": "MESSAGE_ROLE_ASSISTANT", "parts": [{"text": _text(rng, n_out)}]}],
        "usage": {
            "input_tokens": "812",
            "output_tokens": "143",
            "total_tokens": "955",
            "cache_read_input_tokens": "512",
        },
        "stop_reason": "stop",
        "started_at": "2026-11-23T09:00:00.125Z",
        "completed_at": "2026-11-23T09:00:01.900Z",
        "tags": {"env": "bench", "team": "platform"},
        "metadata": {"sigil.sdk.name": "sdk-python", "request_id": f"req-{i}"},
        "agent_name": "bench-agent",
        "agent_version": "1.0.0",
        "temperature": 0.2,
        "max_tokens": "1024",
    }


def lower_camel(value: Any) -> Any:
    """A JSON value with every object key in lowerCamel (``input_tokens`` -> ``inputTokens``), as
    protojson writers other than the Python SDK spell field names."""
    if isinstance(value, dict):
        return {
            k.split("_")[0] + "".join(w.title() for w in k.split("_")[1:]): lower_camel(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [lower_camel(v) for v in value]
    return value


def _camel_key(key: str) -> str:
    first, *rest = key.split("_")
    return first + "".join(word.title() for word in rest)


def request_body(start: int, n: int) -> bytes:
    import orjson

    return orjson.dumps({"generations": [generation(start + k) for k in range(n)]})


def foglamp_body(start: int, n: int) -> bytes:
    """One Foglamp /ingest body: one trace with an agent root span and ``n - 1`` llm spans."""
    import orjson

    rng = random.Random(start)
    trace_id = f"trace-{start}"
    spans: list[dict[str, Any]] = [
        {
            "spanId": f"{trace_id}-root",
            "spanType": "agent",
            "name": "agent",
            "startTime": 1795424400000,
            "endTime": 1795424409000,
        }
    ]
    for k in range(1, n):
        spans.append(
            {
                "spanId": f"{trace_id}-{k}",
                "parentSpanId": f"{trace_id}-root",
                "spanType": "llm",
                "name": "chat",
                "startTime": 1795424400000 + k,
                "endTime": 1795424401000 + k,
                "provider": "openai",
                "modelId": "gpt-4o",
                "usage": {"inputTokens": 812, "outputTokens": 143, "cachedInputTokens": 512},
                "input": orjson.dumps([{"role": "user", "content": _text(rng, 80)}]).decode(),
                "output": orjson.dumps([{"role": "assistant", "content": _text(rng, 110)}]).decode(),
                "metadata": {"env": "bench"},
            }
        )
    return orjson.dumps({"version": "v1", "traces": [{"traceId": trace_id, "agentName": "bench", "spans": spans}]})


def lumiq_body(start: int, n: int) -> bytes:
    """One gzip NDJSON LumiqTrace /v1/ingest body of ``n`` events (at most 100)."""
    import gzip
    import uuid

    import orjson

    lines = []
    for k in range(n):
        i = start + k
        lines.append(
            orjson.dumps(
                {
                    "event_id": str(uuid.UUID(int=i + 1, version=4)),
                    "trace_id": f"trace-{i // 10}",
                    "span_id": f"span-{i}",
                    "timestamp": "2026-11-23T09:00:00.125Z",
                    "provider": "openai",
                    "model": "gpt-4o",
                    "operation": "chat",
                    "latency_ms": 843,
                    "input_tokens": 812,
                    "output_tokens": 143,
                    "cached_tokens": 512,
                    "cost_usd": 0.0034,
                    "status": "success",
                    "stream": False,
                    "environment": "production",
                    "sdk_version": "1.4.2",
                    "tags": {"team": "platform"},
                }
            )
        )
    return gzip.compress(b"\n".join(lines))


def otlp_body(start: int, n: int, *, non_genai: int = 0) -> bytes:
    """One OTLP ``ExportTraceServiceRequest`` (protobuf) of the ``n`` bench generations as GenAI
    spans, as the gateway's own OTLP writer emits them, plus ``non_genai`` plain spans (a database
    call, an HTTP handler) in the same traces, as an instrumented app sends them."""
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    from gateway.formats import otlp
    from gateway.formats import sigil as sf

    records = [r for r in sf.decode_generations_json(request_body(start, n)) if not isinstance(r, sf.ItemError)]
    request = otlp.records_to_traces(records, resource_attributes={"service.name": "bench"}, include_content=True)
    spans = request.resource_spans[0].scope_spans[0].spans
    for k in range(non_genai):
        parent = spans[k % n]
        spans.add(
            trace_id=parent.trace_id,
            span_id=(start * 1000 + k + 1).to_bytes(8, "big"),
            parent_span_id=parent.span_id,
            name="SELECT conversations",
            kind=Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=parent.start_time_unix_nano,
            end_time_unix_nano=parent.start_time_unix_nano + 2_000_000,
        ).attributes.add(key="db.system", value={"string_value": "postgresql"})
    data: bytes = request.SerializeToString()
    return data


def otlp_split_bodies(start: int, n: int) -> tuple[bytes, bytes]:
    """The ``n`` bench generations as an instrumentation that captures content as events sends
    them (openai-v2's default): an ``ExportTraceServiceRequest`` of GenAI spans without content,
    and an ``ExportLogsServiceRequest`` with one ``gen_ai.user.message`` event per input message
    and one ``gen_ai.choice`` per output message, keyed to the spans."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    from gateway.formats import otlp
    from gateway.formats import sigil as sf
    from gateway.formats.otlp import values

    records = [r for r in sf.decode_generations_json(request_body(start, n)) if not isinstance(r, sf.ItemError)]
    traces = otlp.records_to_traces(records, resource_attributes={"service.name": "bench"}, include_content=False)
    logs = ExportLogsServiceRequest()
    rl = logs.resource_logs.add()
    rl.resource.attributes.add(key="service.name", value=AnyValue(string_value="bench"))
    log_records = rl.scope_logs.add().log_records
    for span, record in zip(traces.resource_spans[0].scope_spans[0].spans, records, strict=True):
        events: list[tuple[str, dict[str, Any]]] = [
            ("gen_ai.user.message", {"content": _text_of(m)}) for m in record.input
        ]
        events += [
            ("gen_ai.choice", {"index": i, "finish_reason": "stop", "message": {"content": _text_of(m)}})
            for i, m in enumerate(record.output)
        ]
        for name, body in events:
            log_record = log_records.add(
                time_unix_nano=span.end_time_unix_nano,
                trace_id=span.trace_id,
                span_id=span.span_id,
                event_name=name,
                attributes=[KeyValue(key="gen_ai.system", value=AnyValue(string_value="openai"))],
            )
            values.set_any(log_record.body, body)
    return traces.SerializeToString(), logs.SerializeToString()


def _text_of(message: Any) -> str:
    return "".join(part.text for part in message.parts if part.text)
