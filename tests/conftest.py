"""Shared fixtures: an in-process gateway on loopback port 0, and a fake Sigil backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from gateway.config import load
from gateway.service import Service
from tests.fakes import FakeSigilBackend

# Property tests build whole records and request bodies: large, slow-to-generate inputs are the
# point, so the generator-size health checks would only make the suite flaky. Failures are
# still reported with their seed.
settings.register_profile("gateway", suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile("gateway")

StartGateway = Callable[[dict[str, Any]], Awaitable[Service]]


@pytest.fixture
async def sigil_backend() -> AsyncIterator[FakeSigilBackend]:
    backend = FakeSigilBackend()
    await backend.start()
    yield backend
    await backend.stop()


@pytest.fixture
async def start_gateway() -> AsyncIterator[StartGateway]:
    services: list[Service] = []

    async def start(raw: dict[str, Any]) -> Service:
        service = Service(load(raw, environ={}))
        await service.start()
        services.append(service)
        return service

    yield start
    for s in services:
        await s.shutdown()


def http_port(service: Service, endpoint: str = "127.0.0.1:0") -> int:
    return service.listeners.http[endpoint].port


def grpc_port(service: Service, endpoint: str = "127.0.0.1:0") -> int:
    return service.listeners.grpc[endpoint].port
