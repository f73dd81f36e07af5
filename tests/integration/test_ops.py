"""Health, readiness and metrics endpoints of a running gateway."""

from __future__ import annotations

import asyncio
import logging
import pathlib

import aiohttp
import orjson
import pytest

from tests.conftest import StartGateway, http_port
from tests.fakes import FakeSigilBackend


async def test_health_readiness_and_metrics(
    start_gateway: StartGateway,
    sigil_backend: FakeSigilBackend,
    tmp_path: pathlib.Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "gateway.health")
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
            assert r.status == 200 and (await r.json())["status"] == "ok"
        for path in ("/readyz", "/"):  # Collector charts probe /
            async with s.get(health + path) as r:
                assert (r.status, await r.json()) == (
                    200,
                    {"status": "ok", "exporters": {"sigil": {"healthy": True, "stalled_seconds": 0.0}}},
                )
        async with s.post(ingest, data=body) as r:
            assert r.status == 202
        await sigil_backend.wait_for(1)
        await asyncio.sleep(0.05)
        async with s.get(metrics) as r:
            text = await r.text()
        assert 'gateway_receiver_accepted_records_total{receiver="sigil",transport="http"} 1.0' in text
        assert 'gateway_exporter_sent_records_total{exporter="sigil"} 1.0' in text
        # A backend that keeps failing stalls the queue: exporter health reports it and the log
        # says so once; readiness does not depend on the backend.
        sigil_backend.grpc_status = lambda n: __import__("grpc").StatusCode.UNAVAILABLE
        async with s.post(ingest, data=body) as r:
            assert r.status == 202
        await asyncio.sleep(0.4)
        service.health.check()
        async with s.get(health + "/healthz/exporters") as r:
            payload = await r.json()
            assert r.status == 503
            assert payload["status"] == "degraded"
            assert payload["exporters"]["sigil"]["healthy"] is False
        async with s.get(health + "/readyz") as r:
            assert r.status == 200
            assert (await r.json())["exporters"]["sigil"]["healthy"] is False
        service.health.check()
        unhealthy = [r.getMessage() for r in caplog.records if "unhealthy" in r.getMessage()]
        assert len(unhealthy) == 1 and unhealthy[0].startswith("exporter sigil unhealthy: no progress for")
        sigil_backend.grpc_status = lambda n: None
        await sigil_backend.wait_for(2)
        await asyncio.sleep(0.05)
        service.health.check()
        assert "exporter sigil healthy again" in caplog.text
        await service.shutdown()
        # After shutdown the listeners are closed.
        try:
            async with s.get(health + "/readyz") as r:
                raise AssertionError(f"still serving: {r.status}")
        except aiohttp.ClientConnectionError:
            pass
