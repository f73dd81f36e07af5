"""TLS on receivers, HTTP and gRPC: HTTPS only, a TLS floor, client certificates (mTLS) turned
into tenants, and certificate files reloaded on change. Clients: aiohttp, grpc.aio and the
OpenTelemetry OTLP exporters, trusting a throwaway CA (trustme)."""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
import trustme
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter

from gateway.config import load
from gateway.errors import ConfigError
from gateway.pipeline import build
from gateway.telemetry import Telemetry
from tests.conftest import StartGateway, grpc_port, http_port
from tests.security.support import HTTP, KEYS, otlp_body, spy_on

MTLS_CLIENT = "agent-7.team-a.example"


class Pki:
    """A server CA and certificate, and a client CA with a client certificate, as PEM files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca = trustme.CA()
        self.client_ca = trustme.CA()
        self.cert, self.key = root / "server.crt", root / "server.key"
        self.client_ca_file = root / "clients-ca.crt"
        self.client_cert, self.client_key = root / "client.crt", root / "client.key"
        self.client_ca.cert_pem.write_to_path(str(self.client_ca_file))
        client = self.client_ca.issue_cert(MTLS_CLIENT)
        client.cert_chain_pems[0].write_to_path(str(self.client_cert))
        client.private_key_pem.write_to_path(str(self.client_key))
        self.issue(self.ca, "127.0.0.1")

    def issue(self, ca: trustme.CA, *names: str) -> None:
        cert = ca.issue_cert(*names)
        cert.private_key_pem.write_to_path(str(self.key))
        cert.cert_chain_pems[0].write_to_path(str(self.cert))
        for path in (self.key, self.cert):  # a distinct mtime even on coarse clocks
            os.utime(path, ns=(os.stat(path).st_mtime_ns + 10**9,) * 2)

    def tls(self, mtls: bool = False, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"cert_file": str(self.cert), "key_file": str(self.key), **extra}
        if mtls:
            out["client_ca_file"] = str(self.client_ca_file)
        return out

    def client_ssl(self, *, client_cert: bool = False, ca: trustme.CA | None = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        (ca or self.ca).configure_trust(ctx)
        if client_cert:
            ctx.load_cert_chain(str(self.client_cert), str(self.client_key))
        return ctx

    def grpc_credentials(self, *, client_cert: bool = False, ca: trustme.CA | None = None) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=(ca or self.ca).cert_pem.bytes(),
            private_key=self.client_key.read_bytes() if client_cert else None,
            certificate_chain=self.client_cert.read_bytes() if client_cert else None,
        )


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


def _config(tmp_path: Path, pki: Pki, *, mtls: bool = False, **tls: Any) -> dict[str, Any]:
    authenticator: dict[str, Any] = {"api_keys": KEYS}
    if mtls:
        authenticator["mtls"] = {"identities": [{"name": MTLS_CLIENT, "tenant": "team-mtls"}]}
    server_tls = pki.tls(mtls, **tls)
    grpc_tls = {k: v for k, v in server_tls.items() if k != "min_version"}
    return {
        "receivers": {
            "otlp": {
                "http": {"endpoint": HTTP, "tls": server_tls},
                "grpc": {"endpoint": HTTP, "tls": grpc_tls},
                "auth": {"authenticator": "auth"},
            }
        },
        "processors": {"auth": authenticator},
        "exporters": {"file": {"path": str(tmp_path / "out.jsonl")}},
        "service": {"pipelines": {"p": {"receivers": ["otlp"], "exporters": ["file"]}}},
    }


async def _post(port: int, ctx: ssl.SSLContext | None, headers: dict[str, str], scheme: str = "https") -> int:
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            f"{scheme}://127.0.0.1:{port}/v1/traces",
            data=otlp_body(),
            headers={"Content-Type": "application/x-protobuf", **headers},
            ssl=ctx if ctx is not None else False,
        ) as resp,
    ):
        await resp.read()
        return resp.status


def _emit(exporter: SpanExporter) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    span = provider.get_tracer("t").start_span(
        "chat gpt-4o", attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}
    )
    span.end()
    provider.shutdown()


async def test_https_only_and_tls_floor(start_gateway: StartGateway, tmp_path: Path, pki: Pki) -> None:
    service = await start_gateway(_config(tmp_path, pki, min_version="1.3"))
    port = http_port(service, HTTP)
    assert await _post(port, pki.client_ssl(), {"Authorization": "Bearer key-a"}) == 200
    assert await _post(port, pki.client_ssl(), {}) == 401  # TLS is no credential
    with pytest.raises(aiohttp.ClientError):
        await _post(port, None, {"Authorization": "Bearer key-a"}, scheme="http")  # plaintext
    old = pki.client_ssl()
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(aiohttp.ClientError):
        await _post(port, old, {"Authorization": "Bearer key-a"})
    with pytest.raises(aiohttp.ClientError):
        await _post(port, pki.client_ssl(ca=trustme.CA()), {"Authorization": "Bearer key-a"})  # unknown server


async def test_mtls_identity_is_the_tenant(
    start_gateway: StartGateway, tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests lets these override the exporter's own CA file (its session-level verify).
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    service = await start_gateway(_config(tmp_path, pki, mtls=True))
    spy = spy_on(service)
    port = http_port(service, HTTP)
    with pytest.raises(aiohttp.ClientError):
        await _post(port, pki.client_ssl(), {"Authorization": "Bearer key-a"})  # no client certificate
    assert await _post(port, pki.client_ssl(client_cert=True), {}) == 200
    # The OTLP exporters, as an app would configure them.
    pki.ca.cert_pem.write_to_path(str(pki.root / "ca.pem"))
    http_exporter = HttpSpanExporter(
        endpoint=f"https://127.0.0.1:{port}/v1/traces",
        certificate_file=str(pki.root / "ca.pem"),
        client_certificate_file=str(pki.client_cert),
        client_key_file=str(pki.client_key),
    )
    await asyncio.to_thread(_emit, http_exporter)
    grpc_exporter = GrpcSpanExporter(
        endpoint=f"127.0.0.1:{grpc_port(service, HTTP)}", credentials=pki.grpc_credentials(client_cert=True)
    )
    await asyncio.to_thread(_emit, grpc_exporter)
    assert len(spy.batches) == 3
    assert spy.tenants() == {"team-mtls"}


async def test_grpc_without_client_certificate_cannot_connect(
    start_gateway: StartGateway, tmp_path: Path, pki: Pki
) -> None:
    service = await start_gateway(_config(tmp_path, pki, mtls=True))
    target = f"127.0.0.1:{grpc_port(service, HTTP)}"
    async with grpc.aio.secure_channel(target, pki.grpc_credentials()) as channel:
        call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call(otlp_body(), metadata=(("authorization", "Bearer key-a"),), timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    async with grpc.aio.insecure_channel(target) as channel:  # plaintext to a TLS port
        call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.aio.AioRpcError):
            await call(otlp_body(), metadata=(("authorization", "Bearer key-a"),), timeout=5)


async def _eventually(check: Callable[[], Any], what: str) -> None:
    for _ in range(100):
        try:
            if await check():
                return
        except (aiohttp.ClientError, grpc.aio.AioRpcError, ssl.SSLError, OSError):
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"never: {what}")


async def test_certificates_are_reloaded_on_change(start_gateway: StartGateway, tmp_path: Path, pki: Pki) -> None:
    service = await start_gateway(_config(tmp_path, pki, reload_interval="50ms"))
    port, gport = http_port(service, HTTP), grpc_port(service, HTTP)
    key = {"Authorization": "Bearer key-a"}
    assert await _post(port, pki.client_ssl(), key) == 200
    new_ca = trustme.CA()
    pki.issue(new_ca, "127.0.0.1")

    async def https_with_new_ca() -> bool:
        return await _post(port, pki.client_ssl(ca=new_ca), key) == 200

    async def grpc_with_new_ca() -> bool:
        async with grpc.aio.secure_channel(f"127.0.0.1:{gport}", pki.grpc_credentials(ca=new_ca)) as channel:
            call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
            await call(otlp_body(), metadata=(("authorization", "Bearer key-a"),), timeout=5)
        return True

    await _eventually(https_with_new_ca, "HTTPS presents the new certificate")
    await _eventually(grpc_with_new_ca, "gRPC presents the new certificate")
    with pytest.raises(aiohttp.ClientError):
        await _post(port, pki.client_ssl(), key)  # the old CA no longer matches


def test_tls_config_problems(tmp_path: Path, pki: Pki) -> None:
    cfg = _config(tmp_path, pki)
    cfg["receivers"]["otlp"]["http"]["tls"] = {"cert_file": str(tmp_path / "nope.crt"), "key_file": str(pki.key)}
    with pytest.raises(ConfigError) as err:
        load(cfg, environ={})
    assert err.value.problems == [f"receivers::otlp::http::tls::cert_file: no such file '{tmp_path / 'nope.crt'}'"]
    cfg = _config(tmp_path, pki)
    cfg["receivers"]["otlp"]["grpc"]["tls"]["min_version"] = "1.3"
    with pytest.raises(ConfigError) as err:
        load(cfg, environ={})
    assert err.value.problems == [
        'receivers::otlp::grpc::tls::min_version: gRPC listeners take "1.2" only (gRPC itself accepts TLS 1.2 and 1.3)'
    ]
    # Two receivers on one endpoint must agree on the listener's TLS.
    cfg = _config(tmp_path, pki)
    cfg["receivers"]["sigil"] = {"http": {"endpoint": HTTP}, "grpc": None}
    cfg["service"]["pipelines"]["p"]["receivers"].append("sigil")
    with pytest.raises(ConfigError) as err:
        build(load(cfg, environ={}), Telemetry())
    assert "share endpoint 127.0.0.1:0 with different tls" in err.value.problems[0]
