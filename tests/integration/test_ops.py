"""Health, readiness and metrics endpoints of a running gateway."""

from __future__ import annotations

import asyncio
import logging
import pathlib
import signal
import socket
import subprocess
import sys

import aiohttp
import grpc
import orjson
import pytest
import yaml

from gateway.processors.memory_limiter import MemoryLimiter
from tests.conftest import StartGateway, http_port
from tests.fakes import FakeSigilBackend
from tests.process import GatewayProcess, free_port


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
        assert 'gateway_pipeline_records_total{pipeline="p",tenant="fake"} 1.0' in text
        assert "gateway_process_memory_rss_bytes " in text and "gateway_build_info{" in text
        assert "_created" not in text
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


async def test_readiness_follows_the_memory_limiter(
    start_gateway: StartGateway, sigil_backend: FakeSigilBackend
) -> None:
    service = await start_gateway(
        {
            "receivers": {"sigil": {"http": {"endpoint": "127.0.0.1:0"}, "grpc": None}},
            # Checked once at start (then hourly): the test drives it with check().
            "processors": {"memory_limiter": {"limit_mib": 100_000, "check_interval": "1h"}},
            "exporters": {"sigil": {"endpoint": f"http://127.0.0.1:{sigil_backend.grpc_port}"}},
            "service": {
                "pipelines": {"p": {"receivers": ["sigil"], "processors": ["memory_limiter"], "exporters": ["sigil"]}},
                "health": {"endpoint": "127.0.0.2:0"},
            },
        }
    )
    url = f"http://127.0.0.2:{service.listeners.http['127.0.0.2:0'].port}/readyz"
    async with aiohttp.ClientSession() as s:
        (limiter,) = [p for _, _, p in service.graph.processors if isinstance(p, MemoryLimiter)]
        limiter.check(rss=90_000 << 20)  # above the soft limit, below the hard one
        async with s.get(url) as r:
            assert (r.status, (await r.json())["reason"]) == (503, "memory limit reached")
        limiter.check(rss=0)
        async with s.get(url) as r:
            assert r.status == 200


async def test_sigterm_drain_delay_keeps_accepting(sigil_backend: FakeSigilBackend, tmp_path: pathlib.Path) -> None:
    """After SIGTERM, for service.shutdown_delay: readiness 503, the health port still answers,
    and an application's last flush is still accepted and delivered."""
    http_port = free_port()
    proc = GatewayProcess(
        {
            "receivers": {"sigil": {"http": {"endpoint": f"127.0.0.1:{http_port}"}, "grpc": None}},
            "exporters": {"sigil": {"endpoint": f"http://127.0.0.1:{sigil_backend.grpc_port}"}},
            "service": {
                "shutdown_delay": "3s",
                "pipelines": {"p": {"receivers": ["sigil"], "exporters": ["sigil"]}},
            },
        },
        tmp_path,
    )
    await proc.start()
    try:
        assert proc.proc is not None
        proc.proc.send_signal(signal.SIGTERM)
        body = orjson.dumps({"generations": [{"id": "last", "model": {"provider": "openai", "name": "gpt-4o"}}]})
        async with aiohttp.ClientSession() as s:
            while True:  # the signal is handled asynchronously: wait for readiness to flip
                async with s.get(f"http://127.0.0.1:{proc.health_port}/readyz") as r:
                    if r.status == 503:
                        assert (await r.json())["reason"] == "shutting down"
                        break
                await asyncio.sleep(0.01)
            async with s.post(f"http://127.0.0.1:{http_port}/api/v1/generations:export", data=body) as r:
                assert r.status == 202
        assert await asyncio.to_thread(proc.proc.wait, 30) == 0
        assert [g.id for g in sigil_backend.generations()] == ["last"]
        assert "not ready; still accepting for 3s" in proc.logs()
    finally:
        proc.stop()


async def test_process_logs_are_json_lines_with_refusals_at_debug(
    sigil_backend: FakeSigilBackend, tmp_path: pathlib.Path
) -> None:
    http_port, grpc_port = free_port(), free_port()
    proc = GatewayProcess(
        {
            "receivers": {
                "sigil": {
                    "http": {"endpoint": f"127.0.0.1:{http_port}"},
                    "grpc": {"endpoint": f"127.0.0.1:{grpc_port}"},
                }
            },
            "exporters": {"sigil": {"endpoint": f"http://127.0.0.1:{sigil_backend.grpc_port}"}},
            "service": {
                "pipelines": {"p": {"receivers": ["sigil"], "exporters": ["sigil"]}},
                "telemetry": {"logs": {"level": "debug", "format": "json"}},
            },
        },
        tmp_path,
    )
    await proc.start()
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(3):  # rate-limited: one line per route and status
                async with s.post(f"http://127.0.0.1:{http_port}/api/v1/generations:export", data=b"{not json") as r:
                    assert r.status == 400
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            call = channel.unary_unary("/sigil.v1.GenerationIngestService/ExportGenerations")
            with pytest.raises(grpc.aio.AioRpcError):
                await call(b"\xff\xff\xff")
        assert proc.proc is not None
        assert await proc.terminate() == 0
    finally:
        proc.stop()
    lines = [orjson.loads(line) for line in proc.logs().splitlines()]  # every line is JSON
    refused = [line for line in lines if line["msg"] == "request refused"]
    http = [line for line in refused if line["transport"] == "http"]
    assert len(http) == 1 and http[0]["status"] == 400 and http[0]["level"] == "debug"
    assert [line["status"] for line in refused if line["transport"] == "grpc"] == ["INVALID_ARGUMENT"]
    assert not [line for line in lines if line["logger"].split(".")[-1].startswith("_")]


async def test_cannot_start_is_not_preceded_by_stopped(tmp_path: pathlib.Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "c.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "receivers": {"foglamp": {"endpoint": f"127.0.0.1:{port}"}},
                    "exporters": {"debug": {}},
                    "service": {"pipelines": {"p": {"receivers": ["foglamp"], "exporters": ["debug"]}}},
                }
            )
        )
        out = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "gateway", "run", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 1
    assert "cannot start" in out.stderr and "gateway stopped" not in out.stderr


async def test_url_credentials_never_reach_the_log(tmp_path: pathlib.Path) -> None:
    http_port = free_port()
    proc = GatewayProcess(
        {
            "receivers": {"foglamp": {"endpoint": f"127.0.0.1:{http_port}"}},
            "exporters": {
                "lumiqtrace": {
                    # Nothing listens there: every attempt fails and is logged.
                    "endpoint": f"http://team:pa55w0rd@127.0.0.1:{free_port()}",
                    "api_key": "lqt_secret_key",
                    "retry_on_failure": {
                        "initial_interval": "10ms",
                        "max_interval": "20ms",
                        "max_elapsed_time": "200ms",
                    },
                }
            },
            "service": {
                "pipelines": {"p": {"receivers": ["foglamp"], "exporters": ["lumiqtrace"]}},
                "telemetry": {"logs": {"level": "debug"}},
            },
        },
        tmp_path,
    )
    await proc.start()
    try:
        body = (
            pathlib.Path(__file__).parents[1] / "testdata" / "foglamp" / "rich_payload_every_field.json"
        ).read_bytes()
        async with (
            aiohttp.ClientSession() as s,
            s.post(f"http://127.0.0.1:{http_port}/ingest", data=body, headers={"Authorization": "Bearer fl_x"}) as r,
        ):
            assert r.status < 300, await r.text()
        await proc.wait_for_log("lumiqtrace")
        await asyncio.sleep(0.5)
        assert await proc.terminate() == 0
    finally:
        proc.stop()
    logs = proc.logs()
    assert "127.0.0.1" in logs and "pa55w0rd" not in logs and "lqt_secret_key" not in logs
    assert "<redacted>@127.0.0.1" in logs
