"""No request without valid credentials gets a 2xx, on any receiver, route or transport, whatever
it contains; and a refused request is refused before its body is read.

Every case runs twice: with the ``auth`` processor in the pipeline (the form configs have used
from the start) and with receivers naming the authenticator themselves.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest

from gateway.auth import Credentials, parse_authorization
from gateway.config import load
from gateway.errors import ConfigError
from gateway.model import Batch, Context
from gateway.pipeline import build
from gateway.service import Service
from gateway.telemetry import Telemetry
from tests.conftest import StartGateway, grpc_port, http_port
from tests.security.support import (
    BAD_CREDENTIALS,
    FOGLAMP,
    GENERATION,
    GOOD,
    GRPC,
    GRPC_METHODS,
    HTTP,
    HTTP_ROUTES,
    KEYS,
    LUMIQ_BODY,
    HttpRoute,
    Spy,
    basic,
    config,
    otlp_body,
    spy_on,
)


@pytest.fixture(scope="module", params=["processor", "receiver"])
def form(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def gateway(start_gateway: StartGateway, tmp_path: Path, form: str) -> AsyncIterator[tuple[Service, Spy]]:
    service = await start_gateway(config(tmp_path, form=form))
    yield service, spy_on(service)


def _url(service: Service, route: HttpRoute) -> str:
    port = http_port(service, FOGLAMP if route.foglamp else HTTP)
    host = "127.0.0.2" if route.foglamp else "127.0.0.1"
    return f"http://{host}:{port}{route.path}"


async def _call(session: aiohttp.ClientSession, service: Service, route: HttpRoute, headers: dict[str, str]) -> int:
    async with session.request(
        route.method, _url(service, route), data=route.body or None, headers={**route.headers, **headers}
    ) as resp:
        await resp.read()
        return resp.status


async def test_every_http_route_refuses_bad_credentials(gateway: tuple[Service, Spy]) -> None:
    service, spy = gateway
    async with aiohttp.ClientSession() as session:
        for route in HTTP_ROUTES:
            for name, headers in BAD_CREDENTIALS.items():
                status = await _call(session, service, route, headers)
                assert status == 401, (route.name, name, status)
        assert spy.items == 0
        # The same routes with a valid key: the refusals were about the credentials.
        for route in HTTP_ROUTES:
            headers = {**GOOD, "x-api-key": "key-a"} if route.name == "lumiqtrace" else GOOD
            assert await _call(session, service, route, headers) == route.ok, route.name
    assert spy.tenants() == {"team-a"}


async def test_every_grpc_method_refuses_bad_credentials(gateway: tuple[Service, Spy]) -> None:
    service, spy = gateway
    bad_metadata: list[tuple[tuple[str, str], ...]] = [
        (),
        (("authorization", "Bearer nope"),),
        (("x-api-key", "nope"),),
        (("authorization", basic("team-a", "nope")),),
        (("x-scope-orgid", "team-a"),),
    ]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port(service, GRPC)}") as channel:
        for method in GRPC_METHODS:
            call = channel.unary_unary(method)
            for metadata in bad_metadata:
                # An empty message: nothing deliverable, and still no OK.
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await call(b"", metadata=metadata, timeout=5)
                assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED, (method, metadata)
            await call(b"", metadata=(("authorization", "Bearer key-a"),), timeout=5)
    assert spy.items == 0


async def test_grpc_honours_basic(gateway: tuple[Service, Spy]) -> None:
    # The Sigil SDK sends Basic <tenant>:<token> on gRPC as on HTTP.
    service, spy = gateway
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port(service, GRPC)}") as channel:
        call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        await call(otlp_body(), metadata=(("authorization", basic("whoever", "key-b")),), timeout=5)
    assert spy.tenants() == {"team-b"}


async def test_a_valid_key_sets_its_own_tenant_whatever_the_header_says(gateway: tuple[Service, Spy]) -> None:
    service, spy = gateway
    route = HTTP_ROUTES[0]
    async with aiohttp.ClientSession() as session:
        status = await _call(session, service, route, {"Authorization": "Bearer key-b", "X-Scope-OrgID": "team-a"})
    assert status == 202
    assert spy.tenants() == {"team-b"}


async def _raw_exchange(port: int, head: bytes) -> bytes:
    """Sends request headers only (a body is promised, never sent) and reads the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), 10)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def test_refused_before_the_body_is_read(gateway: tuple[Service, Spy]) -> None:
    # 512 MiB promised and none sent: the answer can only come from the headers.
    service, _ = gateway
    port = http_port(service, HTTP)
    for path, headers in (
        ("/api/v1/generations:export", ""),
        ("/v1/traces", "Content-Type: application/x-protobuf\r\n"),
        ("/v1/ingest", "x-api-key: nope\r\n"),
    ):
        head = (f"POST {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {512 * 1024 * 1024}\r\n\r\n").encode()
        answer = await _raw_exchange(port, head)
        assert answer.startswith(b"HTTP/1.1 401 "), answer[:100]


async def test_grpc_refused_before_the_message_is_read(gateway: tuple[Service, Spy]) -> None:
    # A message over the receive limit: read first, it would be RESOURCE_EXHAUSTED.
    service, _ = gateway
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port(service, GRPC)}") as channel:
        call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call(b"\0" * (17 * 1024 * 1024), timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_shared_receiver_delivers_nothing_unauthenticated(start_gateway: StartGateway, tmp_path: Path) -> None:
    # One receiver, an authenticated pipeline and an open one: the stricter wins at the door.
    cfg: dict[str, Any] = {
        "receivers": {"sigil": {"http": {"endpoint": HTTP}, "grpc": None}},
        "processors": {"auth": {"api_keys": KEYS}},
        "exporters": {"file": {"path": str(tmp_path / "a.jsonl")}, "file/open": {"path": str(tmp_path / "b.jsonl")}},
        "service": {
            "pipelines": {
                "closed": {"receivers": ["sigil"], "processors": ["auth"], "exporters": ["file"]},
                "open": {"receivers": ["sigil"], "exporters": ["file/open"]},
            }
        },
    }
    service = await start_gateway(cfg)
    closed, open_ = spy_on(service, "file"), spy_on(service, "file/open")
    url = f"http://127.0.0.1:{http_port(service, HTTP)}/api/v1/generations:export"
    body = {"generations": [GENERATION]}
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body) as resp:
            assert resp.status == 401
        async with session.post(url, json=body, headers={"Authorization": "Bearer wrong"}) as resp:
            assert resp.status == 401
        assert (closed.items, open_.items) == (0, 0)
        async with session.post(url, json=body, headers=GOOD) as resp:
            assert resp.status == 202
    assert (closed.items, open_.items) == (1, 1)
    assert closed.tenants() == {"team-a"}


async def test_basic_users(start_gateway: StartGateway, tmp_path: Path) -> None:
    users = {"basic": {"users": [{"username": "ci", "password": "pw-1", "tenant": "team-ci"}]}}
    service = await start_gateway(config(tmp_path, form="receiver", auth=users))
    spy = spy_on(service)
    url = f"http://127.0.0.1:{http_port(service, HTTP)}/api/v1/generations:export"
    async with aiohttp.ClientSession() as session:
        for auth, expected in ((basic("ci", "pw-2"), 401), (basic("other", "pw-1"), 401), (basic("ci", "pw-1"), 202)):
            async with session.post(url, json={"generations": [GENERATION]}, headers={"Authorization": auth}) as r:
                assert r.status == expected, auth
    assert spy.tenants() == {"team-ci"}


async def test_keys_file_reload_revokes_a_key(start_gateway: StartGateway, tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text("- {key: rotating, tenant: team-r}\n")
    service = await start_gateway(
        config(tmp_path, form="receiver", auth={"api_keys": [], "keys_file": str(keys), "reload_interval": "0s"})
    )
    url = f"http://127.0.0.1:{http_port(service, HTTP)}/v1/ingest"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=LUMIQ_BODY, headers={"x-api-key": "rotating"}) as resp:
            assert resp.status == 202
        keys.write_text("- {key: rotated, tenant: team-r}\n")
        os.utime(keys, ns=(10**9, 10**9))
        async with session.post(url, data=LUMIQ_BODY, headers={"x-api-key": "rotating"}) as resp:
            assert (resp.status, await resp.json()) == (401, {"error": "Invalid API key"})


def test_unknown_authenticator_is_a_config_error(tmp_path: Path) -> None:
    cfg = config(tmp_path, form="open")
    cfg["receivers"]["otlp"]["auth"] = {"authenticator": "auth/missing"}
    with pytest.raises(ConfigError) as err:
        build(load(cfg, environ={}), Telemetry())
    assert err.value.problems == [
        'receivers::otlp::auth::authenticator: "auth/missing" is not defined under processors '
        "(an authenticator is an auth or auth/<name> entry)"
    ]


def test_no_key_material_in_metrics_or_config_dump(tmp_path: Path) -> None:
    telemetry = Telemetry()
    build(load(config(tmp_path), environ={}), telemetry)
    assert b"key-a" not in telemetry.exposition()


def test_basic_header_parsing_is_strict() -> None:
    creds = Credentials()
    parse_authorization("Basic " + base64.b64encode(b"u:p:q").decode(), creds)
    assert (creds.basic_user, creds.basic_password) == ("u", "p:q")
    creds = Credentials()
    parse_authorization("Basic !!notbase64", creds)
    assert (creds.basic_user, creds.basic_password) == ("", "")


def test_credentials_stay_out_of_reprs() -> None:
    ctx = Context(bearer_token="tok-1", api_key="key-2", basic_user="u", basic_password="pw-3")
    text = repr(Batch([], ctx))
    assert not any(secret in text for secret in ("tok-1", "key-2", "pw-3"))
