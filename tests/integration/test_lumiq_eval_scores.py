"""LumiqTrace eval_scores become Sigil scores on the way to a Sigil backend."""

from __future__ import annotations

import gzip

import aiohttp
import orjson

from tests.conftest import StartGateway, http_port
from tests.fakes import FakeSigilBackend

EVENT = {
    "event_id": "550e8400-e29b-41d4-a716-446655440001",
    "trace_id": "trace-abc",
    "span_id": "span-001",
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
    "eval_scores": {"faithfulness": 0.94},
}


async def test_eval_scores_reach_sigil_scores_export(
    start_gateway: StartGateway, sigil_backend: FakeSigilBackend
) -> None:
    service = await start_gateway(
        {
            "receivers": {"lumiqtrace": {"endpoint": "127.0.0.1:0"}},
            "exporters": {
                "sigil": {
                    "endpoint": f"http://127.0.0.1:{sigil_backend.grpc_port}",
                    "api_endpoint": f"http://127.0.0.1:{sigil_backend.http_port}",
                }
            },
            "service": {"pipelines": {"p": {"receivers": ["lumiqtrace"], "exporters": ["sigil"]}}},
        }
    )
    url = f"http://127.0.0.1:{http_port(service)}/v1/ingest"
    body = gzip.compress(orjson.dumps(EVENT))
    headers = {"x-api-key": "k", "Content-Encoding": "gzip", "Content-Type": "application/x-ndjson"}
    async with aiohttp.ClientSession() as s, s.post(url, data=body, headers=headers) as resp:
        assert (resp.status, await resp.json()) == (202, {"accepted": 1})
    await sigil_backend.wait_for(1)
    await sigil_backend.wait_for_scores(1)
    (gen,) = sigil_backend.generations()
    (score,) = sigil_backend.score_items
    assert gen.id == EVENT["event_id"]
    assert (score["generation_id"], score["score_key"], score["value"]) == (
        EVENT["event_id"],
        "faithfulness",
        {"number": 0.94},
    )
    assert score["evaluator_id"] == "lumiqtrace"
