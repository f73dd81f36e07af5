"""Health, readiness and metrics endpoints of a running gateway."""

from __future__ import annotations

import asyncio
import pathlib

import aiohttp
import orjson

from tests.conftest import StartGateway, http_port
from tests.fakes import FakeSigilBackend


async def test_health_readiness_and_metrics(
    start_gateway: StartGateway, sigil_backend: FakeSigilBackend, tmp_path: pathlib.Path
) -> None:
    service = await start_gateway(
        {
            "receivers": {"sigil": {"http": {"endpoint": "127.0.0.1:0"}, "grpc": None}},
            "exporters": {
                "sigil": {
                    "endpoint": f"http://127.0.0.1:{sigil_backend.grpc_port}",
                    "retry_on_failure": {"initial_interval": "20ms", "max_interval": "50ms"},
                }
            },
            "service": {
                "shutdown_timeout": "1s",
                "pipelines": {"p": {"receivers": ["sigil"], "exporters": ["sigil"]}},
                "health": {"endpoint": "127.0.0.2:0", "exporter_stall_threshold": "200ms"},
                "telemetry": {"metrics": {"endpoint": "127.0.0.3:0"}},
            },
        }
    )
    health = f"http://127.0.0.2:{service.listeners.http['127.0.0.2:0'].port}"
    metrics = f"http://127.0.0.3:{service.listeners.http['127.0.0.3:0'].port}/metrics"
    ingest = f"http://127.0.0.1:{http_port(service)}/api/v1/generations:export"
    body = orjson.dumps({"generations": [{"id": "g1", "model": {"provider": "openai", "name": "gpt-4o"}}]})
    async with aiohttp.ClientSession() as s:
        async with s.get(health + "/healthz") as r:
            assert (r.status, await r.json()) == (200, {"status": "ok"})
        async with s.get(health + "/readyz") as r:
            assert (r.status, await r.json()) == (200, {"status": "ok"})
        async with s.post(ingest, data=body) as r:
            assert r.status == 202
        await sigil_backend.wait_for(1)
        await asyncio.sleep(0.05)
        async with s.get(metrics) as r:
            text = await r.text()
        assert 'gateway_receiver_accepted_records_total{receiver="sigil",transport="http"} 1.0' in text
        assert 'gateway_exporter_sent_records_total{exporter="sigil"} 1.0' in text
        # A backend that keeps failing stalls the queue: readiness reports it.
        sigil_backend.grpc_status = lambda n: __import__("grpc").StatusCode.UNAVAILABLE
        async with s.post(ingest, data=body) as r:
            assert r.status == 202
        await asyncio.sleep(0.4)
        async with s.get(health + "/readyz") as r:
            payload = await r.json()
            assert r.status == 503
            assert payload["status"] == "degraded"
            assert payload["errors"][0].startswith("exporter sigil has not made progress for")
        await service.shutdown()
        # After shutdown the listeners are closed.
        try:
            async with s.get(health + "/readyz") as r:
                raise AssertionError(f"still serving: {r.status}")
        except aiohttp.ClientConnectionError:
            pass
