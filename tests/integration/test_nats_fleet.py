"""The scale-out tier end to end: edge gateway → NATS JetStream → backend gateways → backend.

Real nats-server processes (one server, or a 3-node cluster with an R3 stream), backend gateways
as real processes (``python -m gateway run``) that the test kills with SIGKILL, and a fake
Foglamp as the final backend. Every span id is counted: sent by the client, acknowledged to the
client (202), delivered to the backend; the counts are printed. Nothing acknowledged may be
missing. Duplicates are allowed only as documented (docs/scale-out.md): a backend killed after
its exporter delivered a message but before its ack reached NATS delivers that message again.
"""

from __future__ import annotations

import asyncio
import collections
import pathlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import nats
import pytest

from tests.conftest import StartGateway, http_port
from tests.fakes_http import FakeFoglamp, Reply
from tests.integration.test_nats import backend_config, edge_config, ingest_body
from tests.nats_servers import NatsServer, cluster
from tests.process import GatewayProcess, free_port

SPANS_PER_REQUEST = 3


@pytest.fixture
async def foglamp() -> AsyncIterator[FakeFoglamp]:
    fake = FakeFoglamp()
    await fake.start()
    yield fake
    await fake.stop()


class Client:
    """Sends Foglamp batches and retries a 503 (or a refused connection) as an SDK would."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sent: list[str] = []
        self.acked: list[str] = []
        self.retries = 0

    async def send(self, n: int) -> None:
        ids = [f"r{n}-{k}" for k in range(SPANS_PER_REQUEST)]
        self.sent.extend(ids)
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.post(
                        f"http://127.0.0.1:{self.port}/ingest",
                        data=ingest_body(ids, trace=f"t{n}"),
                        headers={"Authorization": "Bearer k", "X-Scope-OrgID": "team-a"},
                    ) as resp:
                        if resp.status == 202:
                            self.acked.extend(ids)
                            return
                        assert resp.status == 503, await resp.text()
                except aiohttp.ClientConnectionError:
                    pass
                self.retries += 1
                await asyncio.sleep(0.05)


def report(what: str, client: Client, fake: FakeFoglamp) -> collections.Counter[str]:
    delivered = collections.Counter(s["spanId"] for s in fake.spans())
    duplicates = sum(n - 1 for n in delivered.values())
    print(
        f"\n{what}: sent={len(client.sent)} acknowledged={len(client.acked)} client_retries={client.retries} "
        f"delivered_unique={len(delivered)} duplicates={duplicates} "
        f"lost={len(set(client.acked) - set(delivered))}"
    )
    return delivered


async def wait_delivered(fake: FakeFoglamp, ids: list[str], timeout: float = 25.0) -> None:
    want = set(ids)
    deadline = asyncio.get_running_loop().time() + timeout
    while not want <= {s["spanId"] for s in fake.spans()}:
        if asyncio.get_running_loop().time() > deadline:
            return  # the caller's assertion shows what is missing
        await asyncio.sleep(0.05)


async def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_killing_gateways_and_a_backend_outage_lose_nothing(tmp_path: pathlib.Path, foglamp: FakeFoglamp) -> None:
    server = NatsServer(tmp_path)
    await server.start()
    edge_port = free_port()
    edge_cfg = edge_config(server.url)
    edge_cfg["receivers"]["foglamp"]["endpoint"] = f"127.0.0.1:{edge_port}"
    (tmp_path / "edge").mkdir()
    edge = GatewayProcess(edge_cfg, tmp_path / "edge")
    backends: list[GatewayProcess] = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        # Both share the durable "gateway": they split the messages between them.
        cfg = backend_config(server.url, foglamp, fetch_size=4)
        cfg["exporters"]["foglamp"]["headers"] = {"X-Backend": name}  # who delivered what
        backends.append(GatewayProcess(cfg, tmp_path / name))
    try:
        await asyncio.gather(edge.start(), *(b.start() for b in backends))
        client = Client(edge_port)
        down = False
        foglamp.inject = lambda n: Reply(503, {"error": "unavailable"}) if down else None
        requests = iter(range(100))

        async def events(n: int) -> None:
            """Run by the worker about to send request n, while the others have requests in flight."""
            nonlocal down
            if n == 30:
                # SIGKILL the backend that has been delivering: its unacknowledged messages go to
                # the other one.
                await wait_until(lambda: bool(foglamp.requests))
                counts = collections.Counter(r.headers.get("X-Backend") for r in foglamp.requests)
                backends["ab".index(str(counts.most_common(1)[0][0]))].kill()
            elif n == 50:
                edge.kill()  # SIGKILL with requests in flight: their clients get no answer and retry
                await edge.start()
            elif n == 65:
                down = True  # the final backend refuses everything for a while
            elif n == 80:
                await wait_until(lambda: sum(1 for r in foglamp.requests if r.status == 503) >= 5)
                down = False

        async def worker() -> None:
            for n in requests:
                await events(n)
                await client.send(n)

        await asyncio.gather(*(worker() for _ in range(4)))
        await wait_delivered(foglamp, client.acked)
        delivered = report("edge and backend killed + backend outage", client, foglamp)
        assert set(client.acked) <= set(delivered), "acknowledged records were lost"
        assert set(delivered) <= set(client.sent)
        assert len(client.acked) == len(client.sent)  # every request was retried until taken
        # One durable, two gateways: both took a share (the killed one before it died).
        assert {r.headers.get("X-Backend") for r in foglamp.requests} == {"a", "b"}
    finally:
        for process in (edge, *backends):
            process.stop()
        server.stop()


async def test_r3_stream_survives_losing_its_leader_node(
    tmp_path: pathlib.Path, start_gateway: StartGateway, foglamp: FakeFoglamp
) -> None:
    nodes = cluster(tmp_path)
    await asyncio.gather(*(n.start() for n in nodes))
    urls = [n.url for n in nodes]
    try:
        fast_retry: dict[str, Any] = {"initial_interval": "100ms", "max_interval": "500ms", "max_elapsed_time": "3s"}
        # Short JetStream API timeouts: while the new cluster elects its leaders, calls go unanswered.
        edge = await start_gateway(edge_config(urls, stream={"replicas": 3}, retry_on_failure=fast_retry, timeout="1s"))
        await start_gateway(backend_config(urls, foglamp, timeout="1s"))
        client = Client(http_port(edge))
        for n in range(10):
            await client.send(n)
        nc = await nats.connect(urls)
        info = await nc.jsm().stream_info("LLM_TELEMETRY")
        await nc.close()
        assert info.config.num_replicas == 3
        assert info.cluster is not None
        leader = next(node for node in nodes if node.name == info.cluster.leader)
        leader.stop()  # the stream's leader goes away; the two others elect a new one
        for n in range(10, 30):
            await client.send(n)
        await wait_delivered(foglamp, client.acked)
        delivered = report(f"R3 stream, leader {leader.name} stopped", client, foglamp)
        assert set(client.acked) <= set(delivered), "acknowledged records were lost"
        assert len(client.acked) == len(client.sent)  # the client's retries got every batch in
    finally:
        for node in nodes:
            node.stop()
