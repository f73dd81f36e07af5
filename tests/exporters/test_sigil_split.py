"""The Sigil exporter splits a batch into requests within the server's 16 MiB gRPC limit; a
batch merged past it used to be refused whole (RESOURCE_EXHAUSTED) after the clients had their
2xx."""

from __future__ import annotations

import asyncio
import io

import aiohttp
import orjson

from gateway.exporters.sigil import DEFAULT_MAX_REQUEST_BYTES, split_by_size
from tests.conftest import StartGateway, http_port
from tests.fakes import GRPC_MAX_RECEIVE, FakeSigilBackend

TEXT_BYTES = 1024 * 1024


def _body(prefix: str, n: int) -> bytes:
    gens = [
        {
            "id": f"{prefix}-{i}",
            "model": {"provider": "openai", "name": "gpt-4o"},
            "input": [{"role": "MESSAGE_ROLE_USER", "parts": [{"text": "x" * TEXT_BYTES}]}],
        }
        for i in range(n)
    ]
    return orjson.dumps({"generations": gens})


async def test_batch_past_16_mib_arrives_in_several_requests(
    start_gateway: StartGateway, sigil_backend: FakeSigilBackend
) -> None:
    service = await start_gateway(
        {
            "receivers": {"sigil": {"http": {"endpoint": "127.0.0.1:0"}, "grpc": None}},
            # Three requests of 6 MiB merge into one 18 MiB batch.
            "processors": {"batch": {"send_batch_size": 18, "timeout": "5s"}},
            "exporters": {
                "sigil": {
                    "endpoint": f"http://127.0.0.1:{sigil_backend.grpc_port}",
                    "retry_on_failure": {"initial_interval": "20ms", "max_elapsed_time": "2s"},
                }
            },
            "service": {"pipelines": {"p": {"receivers": ["sigil"], "processors": ["batch"], "exporters": ["sigil"]}}},
        }
    )
    url = f"http://127.0.0.1:{http_port(service)}/api/v1/generations:export"
    async with aiohttp.ClientSession() as s:

        async def post(k: int) -> int:
            async with s.post(url, data=io.BytesIO(_body(f"r{k}", 6))) as resp:
                return resp.status

        assert await asyncio.gather(*(post(k) for k in range(3))) == [202, 202, 202]
    await sigil_backend.wait_for(18, timeout=30)
    assert len({g.id for g in sigil_backend.generations()}) == 18
    assert len(sigil_backend.requests) >= 2
    assert all(len(r.body) <= GRPC_MAX_RECEIVE for r in sigil_backend.requests)


def test_split_keeps_order_and_sends_an_oversized_item_alone() -> None:
    items = [b"a" * 10, b"b" * 10, b"c" * 50, b"d" * 10]
    assert split_by_size(items, 40) == [[b"a" * 10, b"b" * 10], [b"c" * 50], [b"d" * 10]]
    assert split_by_size([], 40) == []
    assert DEFAULT_MAX_REQUEST_BYTES < GRPC_MAX_RECEIVE
