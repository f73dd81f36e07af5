"""The sigil exporter over HTTP: which statuses are retried and which are dropped."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest

from tests.conftest import StartGateway, http_port
from tests.fakes import FakeSigilBackend

GEN = {"id": "g1", "model": {"provider": "openai", "name": "gpt-4o"}}


@pytest.mark.parametrize(("status", "delivered"), [(408, True), (429, True), (503, True), (400, False), (401, False)])
async def test_http_status_handling(
    start_gateway: StartGateway, sigil_backend: FakeSigilBackend, status: int, delivered: bool
) -> None:
    sigil_backend.http_status = lambda n: status if n == 0 else None  # fails once, then accepts
    service = await start_gateway(
        {
            "receivers": {"sigil": {"http": {"endpoint": "127.0.0.1:0"}, "grpc": None}},
            "exporters": {
                "sigil": {
                    "endpoint": f"http://127.0.0.1:{sigil_backend.http_port}",
                    "protocol": "http",
                    "retry_on_failure": {"initial_interval": "20ms", "max_interval": "50ms"},
                }
            },
            "service": {"pipelines": {"p": {"receivers": ["sigil"], "exporters": ["sigil"]}}},
        }
    )
    url = f"http://127.0.0.1:{http_port(service)}/api/v1/generations:export"
    async with aiohttp.ClientSession() as s, s.post(url, data=orjson.dumps({"generations": [GEN]})) as resp:
        assert resp.status == 202
    await asyncio.sleep(0.5)
    assert [g.id for g in sigil_backend.generations()] == (["g1"] if delivered else [])
    assert len(sigil_backend.requests) == (2 if delivered else 1)
