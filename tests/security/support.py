"""What the attack suite shares: a gateway with every receiver on loopback, a spy on what reaches
the exporter, the gateway process's RSS, and valid bodies for each receiver."""

from __future__ import annotations

import base64
import gzip
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import zstandard
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from gateway.component import ComponentId
from gateway.model import Batch
from gateway.service import Service

KEYS = [{"key": "key-a", "tenant": "team-a"}, {"key": "key-b", "tenant": "team-b"}]
GOOD = {"Authorization": "Bearer key-a"}
HTTP = "127.0.0.1:0"  # sigil, otlp and lumiqtrace share this listener
FOGLAMP = "127.0.0.2:0"  # foglamp's /v1/traces would clash with otlp's
GRPC = "127.0.0.1:0"
LIMITS = {"max_body_bytes": "1MiB", "max_decompressed_bytes": "4MiB"}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# Credentials that must not get in: nothing, a wrong key in each place a key may be, a wrong
# Basic pair, and a tenant header alone.
BAD_CREDENTIALS: dict[str, dict[str, str]] = {
    "none": {},
    "wrong-bearer": {"Authorization": "Bearer nope"},
    "wrong-x-api-key": {"x-api-key": "nope"},
    "wrong-basic": {"Authorization": basic("team-a", "nope")},
    "tenant-header-only": {"X-Scope-OrgID": "team-a"},
}


def rss_mb() -> float:
    """This process's resident set (the gateway runs in it), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


@dataclass
class Spy:
    """Every batch that reached the exporter, with its tenant."""

    batches: list[Batch] = field(default_factory=list)

    async def consume(self, batch: Batch) -> None:
        self.batches.append(batch)

    @property
    def items(self) -> int:
        return sum(len(b) + len(b.scores) + len(b.ratings) for b in self.batches)

    def tenants(self) -> set[str]:
        return {b.context.tenant for b in self.batches}


def spy_on(service: Service, exporter: str = "file") -> Spy:
    """Replaces the exporter's intake with a spy (the file exporter still exists, unused)."""
    spy = Spy()
    target = service.graph.exporters[ComponentId.parse(exporter)]
    target.consume = spy.consume  # type: ignore[method-assign]
    return spy


def config(
    tmp_path: Path,
    *,
    form: str = "processor",
    processors: dict[str, Any] | None = None,
    pipeline_processors: list[str] | None = None,
    http: dict[str, Any] | None = None,
    grpc: dict[str, Any] | None = None,
    auth: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every receiver on loopback, one pipeline to a file. ``form="processor"``: an ``auth``
    processor in the pipeline (the documented form since the start); ``"receiver"``: the
    receivers name the authenticator themselves; ``"open"``: no authentication."""
    http = {**LIMITS, **(http or {})}
    grpc = grpc or {}
    authenticator = {"api_keys": KEYS, **(auth or {})}
    procs: dict[str, Any] = {**(processors or {})}
    pipeline = list(pipeline_processors or [])
    own: dict[str, Any] = {}
    if form == "processor":
        procs["auth"] = authenticator
        pipeline.insert(0, "auth")
    elif form == "receiver":
        procs["auth/door"] = authenticator
        own = {"auth": {"authenticator": "auth/door"}}
    receivers = {
        "sigil": {"http": {"endpoint": HTTP, **http}, "grpc": {"endpoint": GRPC, **grpc}, **own},
        "otlp": {"http": {"endpoint": HTTP, **http}, "grpc": {"endpoint": GRPC, **grpc}, **own},
        "lumiqtrace": {"endpoint": HTTP, **http, **own},
        "foglamp": {"endpoint": FOGLAMP, **http, **own},
    }
    return {
        "receivers": receivers,
        "processors": procs,
        "exporters": {"file": {"path": str(tmp_path / "out.jsonl")}},
        "service": {"pipelines": {"p": {"receivers": list(receivers), "processors": pipeline, "exporters": ["file"]}}},
    }


# -- bodies ---------------------------------------------------------------------------------------

GENERATION = {
    "id": "g1",
    "conversationId": "conv-1",
    "model": {"provider": "openai", "name": "gpt-4o"},
    "mode": "GENERATION_MODE_SYNC",
    "startedAt": "2026-11-23T09:00:00Z",
    "completedAt": "2026-11-23T09:00:01Z",
}
SIGIL_GENERATIONS = orjson.dumps({"generations": [GENERATION]})
SIGIL_STEPS = orjson.dumps({"workflowSteps": []})
SIGIL_SCORES = orjson.dumps({"scores": []})
RATING = orjson.dumps({"rating_id": "r1", "rating": "CONVERSATION_RATING_VALUE_GOOD", "comment": "secret plan"})
LUMIQ_EVENT = {
    "event_id": "550e8400-e29b-41d4-a716-000000000001",
    "trace_id": "trace-abc",
    "span_id": "span-1",
    "timestamp": "2026-04-20T10:00:00.000Z",
    "provider": "openai",
    "model": "gpt-4o",
    "operation": "chat",
    "latency_ms": 843,
    "input_tokens": 512,
    "output_tokens": 128,
    "cost_usd": 0.0034,
    "status": "success",
    "stream": False,
    "environment": "production",
    "sdk_version": "1.4.2",
}
LUMIQ_BODY = orjson.dumps(LUMIQ_EVENT) + b"\n"
_T0 = 1_776_679_200_000  # ms
FOGLAMP_BODY = orjson.dumps(
    {
        "version": "v1",
        "traces": [
            {
                "traceId": "t1",
                "traceName": "demo",
                "spans": [{"spanId": "s1", "spanType": "llm", "name": "step", "startTime": _T0, "endTime": _T0 + 5}],
            }
        ],
    }
)


def otlp_body(genai: bool = True) -> bytes:
    """One span; without gen_ai attributes the gateway used to answer 200 (partial success)."""
    req = ExportTraceServiceRequest()
    span = req.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"\x01" * 16, b"\x02" * 8, "chat"
    span.start_time_unix_nano, span.end_time_unix_nano = 1_700_000_000_000_000_000, 1_700_000_001_000_000_000
    if genai:
        for key, value in (("gen_ai.operation.name", "chat"), ("gen_ai.request.model", "gpt-4o")):
            attr = span.attributes.add()
            attr.key, attr.value.string_value = key, value
        attr = span.attributes.add()
        attr.key, attr.value.string_value = "gen_ai.system", "openai"
    return bytes(req.SerializeToString())


@dataclass(frozen=True)
class HttpRoute:
    """One HTTP door of one receiver, with a body it accepts from a valid client."""

    name: str
    method: str
    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    foglamp: bool = False  # served on the foglamp listener
    ok: int = 202


HTTP_ROUTES = [
    HttpRoute("sigil-generations", "POST", "/api/v1/generations:export", SIGIL_GENERATIONS),
    HttpRoute("sigil-workflow-steps", "POST", "/api/v1/workflow-steps:export", SIGIL_STEPS),
    HttpRoute("sigil-scores", "POST", "/api/v1/scores:export", SIGIL_SCORES),
    HttpRoute("sigil-ratings-post", "POST", "/api/v1/conversations/conv-1/ratings", RATING, ok=200),
    HttpRoute("sigil-ratings-get", "GET", "/api/v1/conversations/conv-1/ratings", b"", ok=200),
    HttpRoute("otlp-protobuf", "POST", "/v1/traces", otlp_body(), {"Content-Type": "application/x-protobuf"}, ok=200),
    HttpRoute(
        "otlp-non-genai", "POST", "/v1/traces", otlp_body(False), {"Content-Type": "application/x-protobuf"}, ok=200
    ),
    HttpRoute("otlp-json", "POST", "/v1/traces", b"{}", {"Content-Type": "application/json"}, ok=200),
    HttpRoute("lumiqtrace", "POST", "/v1/ingest", LUMIQ_BODY),
    HttpRoute("foglamp-ingest", "POST", "/ingest", FOGLAMP_BODY, {"Content-Type": "application/json"}, True),
    HttpRoute("foglamp-health", "GET", "/health", b"", foglamp=True, ok=200),
    HttpRoute("foglamp-root", "GET", "/", b"", foglamp=True, ok=200),
]

GRPC_METHODS = [
    "/sigil.v1.GenerationIngestService/ExportGenerations",
    "/sigil.v1.WorkflowStepIngestService/ExportWorkflowSteps",
    "/agento11y.v1.GenerationIngestService/ExportGenerations",
    "/agento11y.v1.WorkflowStepIngestService/ExportWorkflowSteps",
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
]


def compress(encoding: str, data: bytes) -> bytes:
    if encoding == "gzip":
        return gzip.compress(data)
    if encoding == "deflate":
        return zlib.compress(data)
    return zstandard.ZstdCompressor().compress(data)
