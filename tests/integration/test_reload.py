"""Config reload: under load nothing is lost, unchanged listeners stay open, a bad config is
refused and the running one stays; SIGHUP and ``POST /-/reload`` trigger it."""

from __future__ import annotations

import asyncio
import pathlib
import signal
from typing import Any

import aiohttp
import grpc
import orjson
import pytest
import yaml

from gateway.config import load, load_file
from gateway.service import Service
from tests.fakes import FakeSigilBackend
from tests.process import GatewayProcess, free_port

CLIENTS = 6
RELOADS = 6


def _config(backend: FakeSigilBackend, *, batch: bool, timeout: str, health_port: int = 0) -> dict[str, Any]:
    return {
        "receivers": {"sigil": {"http": {"endpoint": "127.0.0.1:0"}, "grpc": {"endpoint": "127.0.0.1:0"}}},
        "processors": {"batch": {"send_batch_size": 50, "timeout": "50ms"}, "memory_limiter": {"limit_mib": 16384}},
        "exporters": {
            "sigil": {"endpoint": f"http://127.0.0.1:{backend.grpc_port}", "timeout": timeout},
            "sigil/copy": {"endpoint": f"http://127.0.0.1:{backend.grpc_port}"},
        },
        "service": {
            "shutdown_timeout": "10s",
            "health": {"endpoint": f"127.0.0.1:{health_port}"},
            "pipelines": {
                "p": {
                    "receivers": ["sigil"],
                    "processors": ["memory_limiter", "batch"] if batch else ["memory_limiter"],
                    # The exporter whose timeout changes is replaced; sigil/copy is kept.
                    "exporters": ["sigil"],
                },
                "copy": {"receivers": ["sigil"], "exporters": ["sigil/copy"]},
            },
        },
    }


def _body(client: int, n: int) -> bytes:
    gens = [{"id": f"c{client}-{n}-{i}", "model": {"provider": "openai", "name": "gpt-4o"}} for i in range(3)]
    return orjson.dumps({"generations": gens})


async def test_reload_under_load_loses_nothing(sigil_backend: FakeSigilBackend) -> None:
    configs = [
        load(_config(sigil_backend, batch=False, timeout="5s"), environ={}),
        load(_config(sigil_backend, batch=True, timeout="6s"), environ={}),
    ]
    service = Service(configs[0])
    await service.start()
    port = service.listeners.http["127.0.0.1:0"].port
    url = f"http://127.0.0.1:{port}/api/v1/generations:export"
    accepted: list[str] = []
    statuses: list[int] = []
    stop = asyncio.Event()

    async def client(c: int, session: aiohttp.ClientSession) -> None:
        n = 0
        while not stop.is_set():
            async with session.post(url, data=_body(c, n)) as resp:
                await resp.read()
                statuses.append(resp.status)
                if resp.status == 202:
                    accepted.extend(f"c{c}-{n}-{i}" for i in range(3))
            n += 1
            await asyncio.sleep(0.01)  # paced below the backend's pace: no 429 for a full queue

    try:
        async with aiohttp.ClientSession() as session:
            clients = [asyncio.create_task(client(c, session)) for c in range(CLIENTS)]
            for i in range(RELOADS):
                await asyncio.sleep(0.15)
                assert await service.reload(configs[(i + 1) % 2]) == []
                # The socket stayed open: the same port, and new requests go through.
                assert service.listeners.http["127.0.0.1:0"].port == port
            await asyncio.sleep(0.1)
            stop.set()
            await asyncio.gather(*clients)
        await service.wait_retired()
        # Every accepted record reaches the backend twice (both pipelines), none more.
        await sigil_backend.wait_for(2 * len(accepted), timeout=20)
    finally:
        await service.shutdown()
    assert set(statuses) == {202}
    assert len(accepted) > 0
    received = sorted(g.id for g in sigil_backend.generations())
    assert received == sorted(accepted * 2)


async def test_bad_config_keeps_the_running_one(
    sigil_backend: FakeSigilBackend, tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(_config(sigil_backend, batch=False, timeout="5s")))
    service = Service(load_file(str(path), environ={}), config_source=lambda: load_file(str(path), environ={}))
    await service.start()
    try:
        port = service.listeners.http["127.0.0.1:0"].port
        path.write_text("receivers: {sigil: {http: {endpont: x}}}\nservice: {pipelines: {}}\n")
        problems = await service.reload_from_source()
        assert 'receivers::sigil::http::endpont: unknown key (did you mean "endpoint"?)' in problems
        assert "reload refused, keeping the running config" in caplog.text
        assert await _post(port, _body(0, 0)) == 202
        await sigil_backend.wait_for(6)
    finally:
        await service.shutdown()


async def test_changed_endpoint_moves_the_listener(sigil_backend: FakeSigilBackend) -> None:
    first = _config(sigil_backend, batch=False, timeout="5s")
    second = _config(sigil_backend, batch=False, timeout="5s")
    new_port = free_port()
    second["receivers"]["sigil"]["http"]["endpoint"] = f"127.0.0.1:{new_port}"
    for cfg in (first, second):
        cfg["service"]["health"]["endpoint"] = "127.0.0.3:0"  # not on the listener that moves
    service = Service(load(first, environ={}))
    await service.start()
    try:
        old_port = service.listeners.http["127.0.0.1:0"].port
        grpc_port = service.listeners.grpc["127.0.0.1:0"].port
        assert await service.reload(load(second, environ={})) == []
        assert service.listeners.grpc["127.0.0.1:0"].port == grpc_port  # unchanged: kept open
        async with aiohttp.ClientSession() as s:
            async with s.post(f"http://127.0.0.1:{new_port}/api/v1/generations:export", data=_body(1, 0)) as r:
                assert r.status == 202
            with pytest.raises(aiohttp.ClientConnectionError):
                async with s.post(f"http://127.0.0.1:{old_port}/api/v1/generations:export", data=_body(2, 0)):
                    pass
        await sigil_backend.wait_for(6)
    finally:
        await service.shutdown()


def _http_port_config(backend: FakeSigilBackend, http_port: int, *, drop: bool) -> dict[str, Any]:
    cfg = _config(backend, batch=False, timeout="5s")
    cfg["receivers"]["sigil"] = {"http": {"endpoint": f"127.0.0.1:{http_port}"}, "grpc": None}
    if drop:  # the reloaded config drops everything tagged x=1
        cfg["processors"]["filter"] = {"action": "drop", "tags": {"x": "1"}}
        cfg["service"]["pipelines"]["p"]["processors"] = ["filter"]
        del cfg["service"]["pipelines"]["copy"]
    return cfg


async def _post_tagged(port: int, gen_id: str) -> int:
    body = orjson.dumps(
        {"generations": [{"id": gen_id, "tags": {"x": "1"}, "model": {"provider": "openai", "name": "gpt-4o"}}]}
    )
    return await _post(port, body)


async def _post(port: int, body: bytes) -> int:
    url = f"http://127.0.0.1:{port}/api/v1/generations:export"
    async with aiohttp.ClientSession() as s, s.post(url, data=body) as r:
        return r.status


@pytest.mark.parametrize("workers", [1, 2])
async def test_sighup_and_post_reload_in_a_process(
    sigil_backend: FakeSigilBackend, tmp_path: pathlib.Path, workers: int
) -> None:
    http_port = free_port()
    first = _http_port_config(sigil_backend, http_port, drop=False)
    first["service"]["workers"] = workers
    proc = GatewayProcess(first, tmp_path)
    await proc.start()
    await proc.wait_for_log("gateway started", workers)
    try:
        assert await _post_tagged(http_port, "before") == 202
        await sigil_backend.wait_for(2)
        new = _http_port_config(sigil_backend, http_port, drop=True)
        new["service"]["health"] = {"endpoint": f"127.0.0.1:{proc.health_port}"}
        new["service"]["workers"] = workers
        new["service"]["telemetry"] = {"logs": {"format": "json"}}  # the log format follows
        proc.config_path.write_text(yaml.safe_dump(new))
        if workers == 1:
            async with aiohttp.ClientSession() as s, s.post(f"http://127.0.0.1:{proc.health_port}/-/reload") as r:
                assert (r.status, await r.json()) == (200, {"status": "reloaded"})
        else:
            assert proc.proc is not None
            proc.proc.send_signal(signal.SIGHUP)
            await proc.wait_for_log("config reloaded", workers)
        for i in range(10):  # every worker runs the new config: tagged records are dropped
            assert await _post_tagged(http_port, f"after-{i}") == 202
        await asyncio.sleep(0.3)
        assert sorted(g.id for g in sigil_backend.generations()) == ["before", "before"]
        assert proc.proc is not None and proc.proc.poll() is None  # SIGHUP did not kill it
        reloaded = [line for line in proc.logs().splitlines() if "config reloaded" in line]
        assert len(reloaded) == workers
        assert all(orjson.loads(line)["msg"].startswith("config reloaded") for line in reloaded)
        assert await proc.terminate() == 0
    finally:
        proc.stop()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            return not any(line.startswith("State:") and "Z" in line.split()[1] for line in fh)
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not pathlib.Path("/proc/self/task").exists(), reason="Linux only (PR_SET_PDEATHSIG)")
async def test_workers_die_with_a_killed_supervisor(sigil_backend: FakeSigilBackend, tmp_path: pathlib.Path) -> None:
    cfg = _http_port_config(sigil_backend, free_port(), drop=False)
    cfg["service"]["workers"] = 2
    proc = GatewayProcess(cfg, tmp_path)
    await proc.start()
    await proc.wait_for_log("gateway started", 2)
    assert proc.proc is not None
    try:
        children_file = pathlib.Path(f"/proc/{proc.proc.pid}/task/{proc.proc.pid}/children")
        workers = [int(p) for p in children_file.read_text().split()]
        assert len(workers) == 2
        proc.kill()  # SIGKILL: the supervisor cannot pass anything on
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while any(_alive(w) for w in workers):
            assert loop.time() < deadline, proc.logs()
            await asyncio.sleep(0.05)
        assert proc.logs().count("received SIGTERM: shutting down") == 2  # each drained
    finally:
        proc.stop()


async def test_persistent_queue_carries_over_a_changed_exporter(
    sigil_backend: FakeSigilBackend, tmp_path: pathlib.Path
) -> None:
    """The backend is down: rows wait on disk; the reload replaces the exporter (its timeout
    changed) on the same directory; when the backend is back, every row arrives."""

    def config(timeout: str) -> dict[str, Any]:
        return {
            "receivers": {"sigil": {"http": {"endpoint": "127.0.0.1:0"}}},
            "exporters": {
                "sigil": {
                    "endpoint": f"http://127.0.0.1:{sigil_backend.grpc_port}",
                    "timeout": timeout,
                    "retry_on_failure": {"initial_interval": "20ms", "max_interval": "50ms", "max_elapsed_time": "1h"},
                    "sending_queue": {"storage": str(tmp_path / "queue")},
                }
            },
            "service": {"pipelines": {"p": {"receivers": ["sigil"], "exporters": ["sigil"]}}},
        }

    sigil_backend.grpc_status = lambda n: grpc.StatusCode.UNAVAILABLE
    service = Service(load(config("5s"), environ={}))
    await service.start()
    try:
        port = service.listeners.http["127.0.0.1:0"].port
        for i in range(5):
            assert await _post(port, _body(i, 0)) == 202
        assert await service.reload(load(config("6s"), environ={})) == []
        await service.wait_retired()
        for i in range(5, 8):
            assert await _post(port, _body(i, 0)) == 202
        sigil_backend.grpc_status = lambda n: None
        await sigil_backend.wait_for(24)
    finally:
        await service.shutdown()
    assert sorted({g.id for g in sigil_backend.generations()}) == sorted(
        f"c{c}-0-{i}" for c in range(8) for i in range(3)
    )
