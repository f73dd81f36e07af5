"""The real Sigil SDK → gateway (HTTP and gRPC) → Sigil exporter (gRPC and HTTP) → fake backend.

What the backend receives must equal, field for field, what the SDK sent, and the SDK must see
every item accepted.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sigil_sdk import (
    Client,
    ClientConfig,
    GenerationExportConfig,
    GenerationStart,
    ModelRef,
)
from sigil_sdk import models as sm
from sigil_sdk.proto_mapping import generation_to_proto

from gateway._proto.sigil.v1 import generation_ingest_pb2 as pb
from tests.conftest import StartGateway, grpc_port, http_port
from tests.fakes import FakeSigilBackend

T0 = datetime(2026, 11, 23, 9, 0, 0, 250000, tzinfo=UTC)


def _rich_generation(client: Client, n: int) -> Any:
    """Records one generation using every feature the issue lists; returns the SDK's copy."""
    start = GenerationStart(
        model=ModelRef(provider="anthropic", name="claude-sonnet-4-5"),
        conversation_id=f"conv-{n}",
        conversation_title="Weather in Paris",
        user_id="user-42",
        agent_name="planner",
        agent_version="2026.11",
        system_prompt="You are terse.",
        max_tokens=1024,
        temperature=0.0,
        top_p=0.9,
        tool_choice="auto",
        thinking_enabled=True,
        tools=[
            sm.ToolDefinition(
                name="weather",
                description="Current weather",
                type="function",
                input_schema_json=b'{"type":"object","properties":{"city":{"type":"string"}}}',
            )
        ],
        tags={"env": "test", "team": "a"},
        metadata={"request_id": f"r-{n}", "nested": {"k": [1, "two", True]}},
        parent_generation_ids=["gen_parent1", "gen_parent2"],
        effective_version="1.2.3",
        started_at=T0,
    )
    with client.start_generation(start) as rec:
        rec.set_result(
            input=[
                sm.Message(role=sm.MessageRole.USER, parts=[sm.Part(kind=sm.PartKind.TEXT, text="Paris?")]),
                sm.Message(
                    role=sm.MessageRole.TOOL,
                    parts=[
                        sm.Part(
                            kind=sm.PartKind.TOOL_RESULT,
                            tool_result=sm.ToolResult(
                                tool_call_id="call_1",
                                name="weather",
                                content="18C",
                                content_json=b'{"temp_c":18}',
                            ),
                        )
                    ],
                ),
            ],
            output=[
                sm.Message(
                    role=sm.MessageRole.ASSISTANT,
                    parts=[
                        sm.Part(kind=sm.PartKind.THINKING, thinking="User wants weather."),
                        sm.Part(
                            kind=sm.PartKind.TOOL_CALL,
                            tool_call=sm.ToolCall(id="call_1", name="weather", input_json=b'{"city":"Paris"}'),
                        ),
                        sm.Part(kind=sm.PartKind.TEXT, text="It is 18C and sunny."),
                    ],
                )
            ],
            usage=sm.TokenUsage(
                input_tokens=120,
                output_tokens=40,
                total_tokens=160,
                cache_read_input_tokens=100,
                cache_write_input_tokens=7,
                reasoning_tokens=12,
            ),
            response_id=f"msg_{n}",
            response_model="claude-sonnet-4-5-20250929",
            stop_reason="end_turn",
            completed_at=T0 + timedelta(seconds=1, microseconds=500),
        )
    gen = rec.last_generation
    assert rec.err() is None, rec.err()
    assert gen is not None
    return gen


def _send_with_sdk(cfg: GenerationExportConfig, count: int) -> tuple[list[pb.Generation], list[str]]:
    """Runs the SDK (blocking); returns what it sent and the log lines it wrote."""
    records: list[str] = []

    class _Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger(f"sigil-test-{id(cfg)}")
    logger.addHandler(_Capture())
    logger.setLevel(logging.DEBUG)
    client = Client(ClientConfig(generation_export=cfg, logger=logger))
    sent: list[pb.Generation] = []
    try:
        for n in range(count):
            gen = _rich_generation(client, n)
            sent.append(pb.Generation.FromString(generation_to_proto(gen).SerializeToString()))
    finally:
        client.shutdown()
    return sent, records


def _gateway_config(exporter_protocol: str, backend: FakeSigilBackend) -> dict[str, Any]:
    endpoint = (
        f"http://127.0.0.1:{backend.grpc_port}"
        if exporter_protocol == "grpc"
        else f"http://127.0.0.1:{backend.http_port}"
    )
    return {
        "receivers": {"sigil": {"http": {"endpoint": "127.0.0.1:0"}, "grpc": {"endpoint": "127.0.0.1:0"}}},
        "exporters": {
            "sigil": {
                "endpoint": endpoint,
                "protocol": exporter_protocol,
                # The SDK's own schema (the default, sigil-2026-03, leaves out its lineage fields).
                "schema": "sdk-0.9",
                "auth": {"mode": "tenant", "tenant_id": "team-a"},
                "retry_on_failure": {"initial_interval": "50ms", "max_interval": "200ms"},
            }
        },
        "service": {"pipelines": {"generations": {"receivers": ["sigil"], "exporters": ["sigil"]}}},
    }


@pytest.mark.parametrize(
    ("sdk_protocol", "exporter_protocol"),
    [("http", "grpc"), ("grpc", "http"), ("grpc", "grpc"), ("http", "http")],
)
async def test_sdk_generations_arrive_field_for_field(
    sdk_protocol: str,
    exporter_protocol: str,
    start_gateway: StartGateway,
    sigil_backend: FakeSigilBackend,
) -> None:
    service = await start_gateway(_gateway_config(exporter_protocol, sigil_backend))
    if sdk_protocol == "http":
        export = GenerationExportConfig(
            protocol="http",
            endpoint=f"http://127.0.0.1:{http_port(service)}/api/v1/generations:export",
            flush_interval=timedelta(milliseconds=50),
        )
    else:
        export = GenerationExportConfig(
            protocol="grpc",
            endpoint=f"127.0.0.1:{grpc_port(service)}",
            insecure=True,
            flush_interval=timedelta(milliseconds=50),
        )
    sent, logs = await asyncio.to_thread(_send_with_sdk, export, 3)
    await sigil_backend.wait_for(3)
    received = sorted(sigil_backend.generations(), key=lambda g: g.conversation_id)
    assert [g.conversation_id for g in received] == ["conv-0", "conv-1", "conv-2"]
    for want, got in zip(sent, received, strict=True):
        assert got == want  # every field, including opt presence (temperature 0.0)
        assert got.HasField("temperature") and got.temperature == 0.0
    # The SDK logs rejected items and failed exports; none may appear.
    assert not [line for line in logs if "rejected" in line or "failed" in line], logs
    # The exporter's auth header reached the backend.
    last = sigil_backend.requests[-1]
    assert {k.lower(): v for k, v in last.headers.items()}["x-scope-orgid"] == "team-a"
