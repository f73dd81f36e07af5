"""Slow and numerous clients: request headers within read_header_timeout, bodies within
body_timeout, at most max_connections open per HTTP listener; what is cut is counted. gRPC:
idle connections are closed (keepalive settings reach the server). CORS for browser SDKs."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest

from gateway import _conn_guard
from gateway.service import Service
from tests.conftest import StartGateway, grpc_port, http_port
from tests.security.support import GENERATION, GOOD, GRPC, HTTP, config, otlp_body

TIMEOUTS = {"read_header_timeout": "200ms", "body_timeout": "300ms", "max_connections": 4}


def _cut(service: Service, reason: str) -> float:
    value: float = service.telemetry.listener_cut.labels(HTTP, reason)._value.get()
    return value


def _refused(service: Service, receiver: str, reason: str) -> float:
    value: float = service.telemetry.receiver_refused.labels(receiver, "http", reason)._value.get()
    return value


async def _read_all(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(), 10)  # until the server closes


async def _still_serving(service: Service) -> None:
    url = f"http://127.0.0.1:{http_port(service, HTTP)}/api/v1/generations:export"
    async with aiohttp.ClientSession() as s, s.post(url, json={"generations": [GENERATION]}, headers=GOOD) as resp:
        assert resp.status == 202


async def test_slow_headers_are_cut(start_gateway: StartGateway, tmp_path: Path) -> None:
    service = await start_gateway(config(tmp_path, form="receiver", http=TIMEOUTS))
    port = http_port(service, HTTP)
    # Nothing at all, and a request line trickling in without ever ending its headers.
    silent = await asyncio.open_connection("127.0.0.1", port)
    trickle = await asyncio.open_connection("127.0.0.1", port)
    trickle[1].write(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n")
    for reader, writer in (silent, trickle):
        assert (await _read_all(reader)).startswith(b"HTTP/1.1 408 ")
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    assert _cut(service, "header_timeout") == 2
    await _still_serving(service)


async def test_slow_body_gets_408(start_gateway: StartGateway, tmp_path: Path) -> None:
    service = await start_gateway(config(tmp_path, form="receiver", http=TIMEOUTS))
    reader, writer = await asyncio.open_connection("127.0.0.1", http_port(service, HTTP))
    writer.write(
        b"POST /api/v1/generations:export HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer key-a\r\n"
        b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"generations": ['
    )
    answer = await asyncio.wait_for(reader.read(4096), 10)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert _refused(service, "sigil", "timeout") == 1
    await _still_serving(service)


async def test_connection_cap(start_gateway: StartGateway, tmp_path: Path) -> None:
    service = await start_gateway(config(tmp_path, form="receiver", http={**TIMEOUTS, "read_header_timeout": "10s"}))
    port = http_port(service, HTTP)
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(4)]
    await asyncio.sleep(0)  # the server has taken them
    extra_reader, extra_writer = await asyncio.open_connection("127.0.0.1", port)
    assert (await _read_all(extra_reader)).startswith(b"HTTP/1.1 503 ")
    extra_writer.close()
    with contextlib.suppress(OSError):
        await extra_writer.wait_closed()
    assert _cut(service, "max_connections") >= 1
    for _, writer in held:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        await writer.wait_closed()
    for _ in range(100):  # the server notices the closes
        try:
            await _still_serving(service)
            break
        except (AssertionError, aiohttp.ClientError):
            await asyncio.sleep(0.05)
    else:
        raise AssertionError("the listener never took connections again")
    text = service.telemetry.exposition().decode()
    assert 'gateway_listener_connections_cut_total{endpoint="127.0.0.1:0",reason="max_connections"}' in text


async def test_grpc_idle_connections_are_closed(start_gateway: StartGateway, tmp_path: Path) -> None:
    keepalive = {"keepalive": {"max_connection_idle": "200ms", "time": "1s", "timeout": "1s"}}
    service = await start_gateway(config(tmp_path, form="receiver", grpc=keepalive))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port(service, GRPC)}") as channel:
        call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        await call(otlp_body(), metadata=(("authorization", "Bearer key-a"),), timeout=5)
        assert channel.get_state() == grpc.ChannelConnectivity.READY
        for _ in range(100):  # the server's GOAWAY turns the channel idle
            if channel.get_state() == grpc.ChannelConnectivity.IDLE:
                break
            await asyncio.sleep(0.05)
        assert channel.get_state() == grpc.ChannelConnectivity.IDLE


# -- CORS -------------------------------------------------------------------------------------------

CORS: dict[str, Any] = {
    "cors": {
        "allowed_origins": ["https://app.example", "https://*.tools.example"],
        "allowed_headers": ["Authorization", "X-Scope-OrgID"],
        "max_age": "10m",
    }
}


@pytest.mark.parametrize(
    ("origin", "asked", "status"),
    [
        ("https://app.example", "authorization, content-type", 204),
        ("https://a.tools.example", "x-scope-orgid", 204),
        ("https://evil.example", "authorization", 403),
        ("https://tools.example", "authorization", 403),  # the wildcard needs a label
        ("https://app.example", "x-secret", 403),
    ],
)
async def test_cors_preflight(
    start_gateway: StartGateway, tmp_path: Path, origin: str, asked: str, status: int
) -> None:
    service = await start_gateway(config(tmp_path, form="receiver", http=CORS))
    url = f"http://127.0.0.1:{http_port(service, HTTP)}/v1/traces"
    headers = {"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": asked}
    async with aiohttp.ClientSession() as s, s.options(url, headers=headers) as resp:
        assert resp.status == status
        if status == 204:
            assert resp.headers["Access-Control-Allow-Origin"] == origin
            assert resp.headers["Access-Control-Max-Age"] == "600"
            assert resp.headers["Access-Control-Allow-Headers"] == asked
        else:
            assert "Access-Control-Allow-Origin" not in resp.headers


async def test_cors_on_answers(start_gateway: StartGateway, tmp_path: Path) -> None:
    service = await start_gateway(config(tmp_path, form="receiver", http=CORS))
    url = f"http://127.0.0.1:{http_port(service, HTTP)}/api/v1/generations:export"
    body = {"generations": [GENERATION]}
    async with aiohttp.ClientSession() as s:
        async with s.post(url, json=body, headers={**GOOD, "Origin": "https://app.example"}) as resp:
            assert (resp.status, resp.headers["Access-Control-Allow-Origin"]) == (202, "https://app.example")
        # A browser's request still needs credentials: CORS is no authentication.
        async with s.post(url, json=body, headers={"Origin": "https://app.example"}) as resp:
            assert resp.status == 401
        async with s.post(url, json=body, headers={**GOOD, "Origin": "https://evil.example"}) as resp:
            assert "Access-Control-Allow-Origin" not in resp.headers
    # Without a cors block, no CORS headers at all.
    plain = await start_gateway(config(tmp_path, form="receiver"))
    url = f"http://127.0.0.1:{http_port(plain, HTTP)}/v1/traces"
    headers = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    async with aiohttp.ClientSession() as s, s.options(url, headers=headers) as resp:
        assert "Access-Control-Allow-Origin" not in resp.headers


async def test_process_wide_cap_follows_the_open_file_limit(
    start_gateway: StartGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever each listener allows, all listeners together stay under the descriptor limit.
    limit = _conn_guard._process_open + 3  # other tests' connections may still be closing
    monkeypatch.setattr("gateway._conn_guard.process_connection_limit", lambda: limit)
    service = await start_gateway(config(tmp_path, form="receiver", http={"max_connections": 100}))
    held = [await asyncio.open_connection("127.0.0.1", http_port(service, HTTP)) for _ in range(3)]
    reader, writer = await asyncio.open_connection("127.0.0.1", http_port(service, HTTP))
    assert (await _read_all(reader)).startswith(b"HTTP/1.1 503 ")
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    for _, w in held:
        w.close()
    assert _cut(service, "max_connections") == 1
