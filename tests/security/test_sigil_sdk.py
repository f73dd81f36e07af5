"""The Sigil SDK against an authenticated gateway: its Basic ``tenant:token`` is honoured over
gRPC and HTTP alike, and a wrong token delivers nothing."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sigil_sdk import AuthConfig, Client, ClientConfig, GenerationExportConfig, GenerationStart, ModelRef
from sigil_sdk import models as sm

from tests.conftest import StartGateway, grpc_port, http_port
from tests.security.support import GRPC, HTTP, config, spy_on


@pytest.fixture(autouse=True)
def _collect_sdk_sockets() -> Iterator[None]:
    """The SDK's HTTP exporter (urllib) leaves the socket of a refused request for the garbage
    collector; collect it here, quietly, so its ResourceWarning does not surface as an error in
    whichever later test happens to trigger the collection."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def _send(protocol: str, endpoint: str, password: str) -> None:
    cfg = GenerationExportConfig(
        protocol=protocol,
        endpoint=endpoint,
        insecure=True,
        flush_interval=timedelta(milliseconds=20),
        auth=AuthConfig(mode="basic", tenant_id="whatever-the-sdk-says", basic_password=password),
        max_retries=0,
    )
    client = Client(ClientConfig(generation_export=cfg))
    try:
        with client.start_generation(GenerationStart(model=ModelRef(provider="openai", name="gpt-4o"))) as rec:
            rec.set_result(
                output=[sm.Message(role=sm.MessageRole.ASSISTANT, parts=[sm.Part(kind=sm.PartKind.TEXT, text="hi")])]
            )
    finally:
        client.shutdown()


@pytest.mark.parametrize("protocol", ["grpc", "http"])
async def test_sdk_basic_auth(start_gateway: StartGateway, tmp_path: Path, protocol: str) -> None:
    service = await start_gateway(config(tmp_path, form="receiver"))
    spy = spy_on(service)
    endpoint = (
        f"127.0.0.1:{grpc_port(service, GRPC)}"
        if protocol == "grpc"
        else f"http://127.0.0.1:{http_port(service, HTTP)}/api/v1/generations:export"
    )
    await asyncio.to_thread(_send, protocol, endpoint, "wrong-token")
    assert spy.items == 0
    refused = service.telemetry.receiver_refused.labels("sigil", protocol, "unauthenticated")._value.get()
    assert refused == 1
    await asyncio.to_thread(_send, protocol, endpoint, "key-b")
    assert spy.items == 1 and spy.tenants() == {"team-b"}
