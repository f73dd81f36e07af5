"""``batch`` in front of exporters whose queue fills up: with ``acknowledge: export`` (the
default) a client is answered only once its batch is queued (on disk, with a persistent queue),
so a full queue reaches the client as 429 and every acknowledged record is delivered."""

from __future__ import annotations

import asyncio
import pathlib

import aiohttp
import grpc
import orjson
import pytest

from gateway.cli import main
from tests.conftest import StartGateway, http_port
from tests.fakes import FakeSigilBackend

DATA = pathlib.Path(__file__).parent.parent / "testdata" / "config"


def _body(prefix: str, n: int) -> bytes:
    gens = [{"id": f"{prefix}-{i}", "model": {"provider": "openai", "name": "gpt-4o"}} for i in range(n)]
    return orjson.dumps({"generations": gens})


@pytest.mark.parametrize("storage", [False, True])
async def test_batch_before_a_full_queue_loses_nothing_acknowledged(
    start_gateway: StartGateway, sigil_backend: FakeSigilBackend, tmp_path: pathlib.Path, storage: bool
) -> None:
    backend_up = asyncio.Event()
    sigil_backend.grpc_status = lambda i: None if backend_up.is_set() else grpc.StatusCode.UNAVAILABLE
    queue: dict[str, object] = {"num_consumers": 1, "queue_size": 2}
    if storage:
        queue["storage"] = str(tmp_path / "queue")
    service = await start_gateway(
        {
            "receivers": {"sigil": {"http": {"endpoint": "127.0.0.1:0"}, "grpc": None}},
            "processors": {"batch": {"send_batch_size": 10, "timeout": "20ms"}},
            "exporters": {
                "sigil": {
                    "endpoint": f"http://127.0.0.1:{sigil_backend.grpc_port}",
                    "retry_on_failure": {"initial_interval": "20ms", "max_interval": "50ms", "max_elapsed_time": "0s"},
                    "sending_queue": queue,
                }
            },
            "service": {"pipelines": {"p": {"receivers": ["sigil"], "processors": ["batch"], "exporters": ["sigil"]}}},
        }
    )
    url = f"http://127.0.0.1:{http_port(service)}/api/v1/generations:export"
    acknowledged: list[str] = []
    statuses: list[int] = []

    async def post(session: aiohttp.ClientSession, k: int) -> None:
        async with session.post(url, data=_body(f"r{k}", 5)) as resp:
            await resp.read()
            statuses.append(resp.status)
            if resp.status == 202:
                acknowledged.extend(f"r{k}-{i}" for i in range(5))

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(post(session, k) for k in range(30)))
    assert 429 in statuses and 202 in statuses, statuses
    assert set(statuses) <= {202, 429}
    backend_up.set()
    await sigil_backend.wait_for(len(acknowledged), timeout=20)
    delivered = {g.id for g in sigil_backend.generations()}
    assert set(acknowledged) <= delivered
    dropped = service.telemetry.registry.get_sample_value(
        "gateway_processor_dropped_records_total", {"processor": "batch", "pipeline": "p", "reason": "export_refused"}
    )
    assert dropped is None


def test_the_design_example_shape_validates() -> None:
    # batch in front of an exporter with a persistent queue, as in DESIGN.md
    assert main(["validate", "--config", str(DATA / "valid" / "batch_before_persistent_queue.yaml")]) == 0
