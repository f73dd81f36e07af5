"""The README's SDK table and the sidecar manifest in docs/deploy.md, run with the real Sigil SDK.

Both once pointed the SDK at the gateway's HTTP port without switching it to HTTP: the SDK stayed
on gRPC and every export failed. These tests use exactly the settings the docs print, with a bare
``http://host:port`` (the SDK appends ``/api/v1/generations:export`` itself).
"""

from __future__ import annotations

import asyncio
import logging
import pathlib
from datetime import timedelta

import pytest
from sigil_sdk import Client, ClientConfig, GenerationExportConfig, GenerationStart, ModelRef
from sigil_sdk import models as sm

from tests.conftest import StartGateway, http_port
from tests.fakes import FakeSigilBackend

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _config(backend: FakeSigilBackend) -> dict[str, object]:
    return {
        "receivers": {"sigil": {"http": {"endpoint": "127.0.0.1:0"}}},
        "exporters": {"sigil": {"endpoint": f"http://127.0.0.1:{backend.grpc_port}", "protocol": "grpc"}},
        "service": {"pipelines": {"p": {"receivers": ["sigil"], "exporters": ["sigil"]}}},
    }


def _send(cfg: ClientConfig, count: int) -> list[str]:
    """Records ``count`` generations with the real SDK (blocking); returns its log lines."""
    lines: list[str] = []

    class _Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger = logging.getLogger(f"sigil-readme-{id(cfg)}")
    logger.addHandler(_Capture())
    logger.setLevel(logging.DEBUG)
    cfg.logger = logger
    client = Client(cfg)
    try:
        for n in range(count):
            start = GenerationStart(model=ModelRef(provider="openai", name="gpt-4o"), conversation_id=f"c-{n}")
            with client.start_generation(start) as rec:
                rec.set_result(
                    output=[
                        sm.Message(role=sm.MessageRole.ASSISTANT, parts=[sm.Part(kind=sm.PartKind.TEXT, text="hi")])
                    ]
                )
    finally:
        client.shutdown()
    return lines


def test_readme_and_deploy_doc_print_the_http_protocol() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert 'GenerationExportConfig(protocol="http", endpoint="http://127.0.0.1:8080")' in readme
    deploy = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert '{name: SIGIL_PROTOCOL, value: "http"}' in deploy
    assert '{name: SIGIL_ENDPOINT, value: "http://127.0.0.1:8080"}' in deploy


async def test_readme_http_row_reaches_the_gateway(
    start_gateway: StartGateway, sigil_backend: FakeSigilBackend
) -> None:
    service = await start_gateway(_config(sigil_backend))
    export = GenerationExportConfig(
        protocol="http", endpoint=f"http://127.0.0.1:{http_port(service)}", flush_interval=timedelta(milliseconds=50)
    )
    logs = await asyncio.to_thread(_send, ClientConfig(generation_export=export), 3)
    await sigil_backend.wait_for(3)
    assert sorted(g.conversation_id for g in sigil_backend.generations()) == ["c-0", "c-1", "c-2"]
    assert not [line for line in logs if "failed" in line or "rejected" in line], logs


async def test_sidecar_environment_reaches_the_gateway(
    start_gateway: StartGateway, sigil_backend: FakeSigilBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = await start_gateway(_config(sigil_backend))
    monkeypatch.setenv("SIGIL_PROTOCOL", "http")
    monkeypatch.setenv("SIGIL_ENDPOINT", f"http://127.0.0.1:{http_port(service)}")
    export = GenerationExportConfig(flush_interval=timedelta(milliseconds=50))
    logs = await asyncio.to_thread(_send, ClientConfig(generation_export=export), 2)
    await sigil_backend.wait_for(2)
    assert sorted(g.conversation_id for g in sigil_backend.generations()) == ["c-0", "c-1"]
    assert not [line for line in logs if "failed" in line or "rejected" in line], logs
