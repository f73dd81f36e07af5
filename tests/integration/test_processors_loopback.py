"""Processors through a running gateway, driven by the real Sigil SDK, into a fake Sigil backend."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import aiohttp
import orjson
from sigil_sdk import AuthConfig, Client, ClientConfig, GenerationExportConfig, GenerationStart, ModelRef
from sigil_sdk import models as sm

from tests.conftest import StartGateway, http_port
from tests.fakes import FakeSigilBackend


def _config(backend: FakeSigilBackend, processors: dict[str, Any], forward_tenant: bool = False) -> dict[str, Any]:
    return {
        "receivers": {"sigil": {"http": {"endpoint": "127.0.0.1:0"}, "grpc": None}},
        "processors": processors,
        "exporters": {
            "sigil": {
                "endpoint": f"http://127.0.0.1:{backend.grpc_port}",
                "forward_tenant": forward_tenant,
                "retry_on_failure": {"initial_interval": "50ms", "max_interval": "100ms"},
            }
        },
        "service": {
            "pipelines": {"p": {"receivers": ["sigil"], "processors": list(processors), "exporters": ["sigil"]}}
        },
    }


def _sdk_send(port: int, texts: list[str], auth: AuthConfig | None = None, tool_call: bool = False) -> None:
    cfg = GenerationExportConfig(
        protocol="http",
        endpoint=f"http://127.0.0.1:{port}/api/v1/generations:export",
        flush_interval=timedelta(milliseconds=50),
        auth=auth or AuthConfig(),
        max_retries=0,
    )
    client = Client(ClientConfig(generation_export=cfg))
    try:
        for i, text in enumerate(texts):
            start = GenerationStart(
                model=ModelRef(provider="openai", name="gpt-4o"),
                conversation_id=f"c{i}",
                system_prompt=f"system {text}",
            )
            with client.start_generation(start) as rec:
                parts = [sm.Part(kind=sm.PartKind.TEXT, text=f"answer {text}")]
                if tool_call:
                    parts.append(
                        sm.Part(
                            kind=sm.PartKind.TOOL_CALL,
                            tool_call=sm.ToolCall(id="c1", name="lookup", input_json=b'{"q":"x"}'),
                        )
                    )
                rec.set_result(
                    input=[sm.Message(role=sm.MessageRole.USER, parts=[sm.Part(kind=sm.PartKind.TEXT, text=text)])],
                    output=[sm.Message(role=sm.MessageRole.ASSISTANT, parts=parts)],
                )
    finally:
        client.shutdown()


async def test_auth_sets_tenant_forwarded_to_backend(
    start_gateway: StartGateway, sigil_backend: FakeSigilBackend
) -> None:
    service = await start_gateway(
        _config(
            sigil_backend,
            {"auth": {"api_keys": [{"key": "s3cret", "tenant": "team-a"}]}},
            forward_tenant=True,
        )
    )
    port = http_port(service)
    await asyncio.to_thread(_sdk_send, port, ["hello"], AuthConfig(mode="bearer", bearer_token="s3cret"))
    await sigil_backend.wait_for(1)
    assert {k.lower(): v for k, v in sigil_backend.requests[0].headers.items()}["x-scope-orgid"] == "team-a"
    # Wrong and missing keys: 401 in the receiver's own shape; nothing reaches the backend.
    url = f"http://127.0.0.1:{port}/api/v1/generations:export"
    body = orjson.dumps({"generations": [{"id": "g", "model": {"provider": "p", "name": "m"}}]})
    async with aiohttp.ClientSession() as s:
        async with s.post(url, data=body, headers={"Authorization": "Bearer wrong"}) as resp:
            assert (resp.status, await resp.text()) == (401, "invalid or revoked API key\n")
        async with s.post(url, data=body) as resp:
            assert (resp.status, await resp.text()) == (401, "missing API key\n")
    metrics = service.telemetry.exposition().decode()
    assert "s3cret" not in metrics and "wrong" not in metrics
    assert len(sigil_backend.generations()) == 1


async def test_content_metadata_only_strips_before_export(
    start_gateway: StartGateway, sigil_backend: FakeSigilBackend
) -> None:
    service = await start_gateway(_config(sigil_backend, {"content": {"mode": "metadata_only"}}))
    await asyncio.to_thread(_sdk_send, http_port(service), ["TOPSECRET"], None, True)
    await sigil_backend.wait_for(1)
    gen = sigil_backend.generations()[0]
    assert b"TOPSECRET" not in gen.SerializeToString()
    assert gen.system_prompt == ""
    assert [p.WhichOneof("payload") for p in gen.output[0].parts] == ["text", "tool_call"]
    assert gen.output[0].parts[1].tool_call.name == "lookup"
    assert gen.output[0].parts[1].tool_call.input_json == b""
    assert gen.metadata["sigil.sdk.content_capture_mode"] == "metadata_only"


async def test_filter_and_batch(start_gateway: StartGateway, sigil_backend: FakeSigilBackend) -> None:
    service = await start_gateway(
        _config(
            sigil_backend,
            {
                "filter": {"action": "keep", "selectors": ["user_visible_turn"]},
                "batch": {"send_batch_size": 100, "timeout": "300ms"},
            },
        )
    )
    port = http_port(service)
    await asyncio.to_thread(_sdk_send, port, ["a", "b", "c"])
    await asyncio.to_thread(_sdk_send, port, ["tool"], None, True)  # has a tool call: dropped
    await sigil_backend.wait_for(3)
    await asyncio.sleep(0.4)
    assert sorted(g.conversation_id for g in sigil_backend.generations()) == ["c0", "c1", "c2"]
    dropped = service.telemetry.processor_dropped.labels("filter", "p", "filtered")._value.get()
    assert dropped == 1


async def test_redact_masks_content(start_gateway: StartGateway, sigil_backend: FakeSigilBackend) -> None:
    service = await start_gateway(_config(sigil_backend, {"redact": {"rules": ["email"]}}))
    await asyncio.to_thread(_sdk_send, http_port(service), ["write to bob@example.com"])
    await sigil_backend.wait_for(1)
    gen = sigil_backend.generations()[0]
    assert gen.input[0].parts[0].text == "write to [REDACTED:email]"
    assert gen.system_prompt == "system write to [REDACTED:email]"


async def test_memory_limiter_answers_429_with_retry_after(
    start_gateway: StartGateway, sigil_backend: FakeSigilBackend
) -> None:
    service = await start_gateway(_config(sigil_backend, {"memory_limiter": {"limit_mib": 100, "spike_limit_mib": 99}}))
    url = f"http://127.0.0.1:{http_port(service)}/api/v1/generations:export"
    body = orjson.dumps({"generations": [{"id": "g", "model": {"provider": "p", "name": "m"}}]})
    async with aiohttp.ClientSession() as s, s.post(url, data=body) as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "1"
